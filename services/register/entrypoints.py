"""The register's commands and queries, each bound to the method that answers it, and which children each query
shows (see services/runtime/routes.py for what the runtime does with each line, services/runtime/read_log.py for
the read log it keeps from `reads`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from uuid import UUID

from contracts.register import (
    AcceptInvitation,
    AcknowledgeTransfer,
    AddToSenSupport,
    CensusExtract,
    ChangeNeeds,
    EnrolPupil,
    ErasePupil,
    GetPupil,
    GetRollImport,
    GiveConsentToShare,
    ImportRoll,
    InvitePerson,
    LaCounts,
    LiftLegalHold,
    MyChildren,
    NoteConcern,
    PlaceLegalHold,
    PupilHistory,
    RecordLookedAfter,
    RecordOtherRegisters,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
    RecordSubjectAccessRequest,
    RegisterReads,
    RegisterSubjectAccess,
    RemoveFromSenRegister,
    ReviewRetention,
    RevokeAccess,
    SchoolRegister,
    TransferPupil,
    WithdrawConsentToShare,
)
from services.register.application import Register
from services.register.queries import RegisterQueries
from services.runtime.keyring import pupil_id_for
from services.runtime.read_log import NO_CHILD, ReadLog, child, children
from services.runtime.routes import Routes
from services.runtime.sealing import ERASED


def census_pupils(extract: object) -> Iterator[UUID]:
    """The pupils a page of the census extract shows: each line's UPN (an erased pupil's shows nothing of them)."""
    for row in csv.DictReader(io.StringIO(str(getattr(extract, "csv", "")))):
        upn = (row.get("UPN") or "").strip()
        if upn and upn != ERASED and not upn.startswith("#"):
            yield pupil_id_for(upn)


ROUTES = Routes(
    commands={
        EnrolPupil: Register.enrol_pupil,
        ImportRoll: Register.import_roll,
        RecordPeopleWithParentalResponsibility: Register.record_people_with_parental_responsibility,
        RecordLookedAfter: Register.record_looked_after,
        RecordOtherRegisters: Register.record_other_registers,
        GiveConsentToShare: Register.give_consent_to_share,
        WithdrawConsentToShare: Register.withdraw_consent_to_share,
        NoteConcern: Register.note_concern,
        AddToSenSupport: Register.add_to_sen_support,
        ChangeNeeds: Register.change_needs,
        RemoveFromSenRegister: Register.remove_from_sen_register,
        RecordSenProvision: Register.record_sen_provision,
        TransferPupil: Register.transfer_pupil,
        AcknowledgeTransfer: Register.acknowledge_transfer,
        PlaceLegalHold: Register.place_legal_hold,
        LiftLegalHold: Register.lift_legal_hold,
        ErasePupil: Register.erase_pupil,
        RecordSubjectAccessRequest: Register.record_subject_access_request,
        InvitePerson: Register.invite_person,
        AcceptInvitation: Register.accept_invitation,
        RevokeAccess: Register.revoke_access,
    },
    queries={
        GetPupil: RegisterQueries.pupil,
        GetRollImport: Register.roll_import,
        PupilHistory: RegisterQueries.pupil_history,
        SchoolRegister: RegisterQueries.school_register,
        LaCounts: RegisterQueries.counts,
        CensusExtract: RegisterQueries.census_extract,
        ReviewRetention: RegisterQueries.retention_due,
        RegisterSubjectAccess: Register.subject_access,
        MyChildren: RegisterQueries.my_children,
        RegisterReads: ReadLog.reads,
    },
    reads={
        GetPupil: child("upn"),
        PupilHistory: child("upn"),
        SchoolRegister: children(lambda register: (e.pupil_id for e in register.entries)),
        CensusExtract: children(census_pupils),
        MyChildren: children(lambda found: (c.pupil_id for c in found)),
        RegisterSubjectAccess: child("pupil_id"),
        RegisterReads: child("pupil_id"),
        # no child's record: a roll import's report (rows rejected, counts), counts, and the retention review (ids,
        # schools and years of birth only, for the LA's data officer to decide on erasures)
        GetRollImport: NO_CHILD,
        LaCounts: NO_CHILD,
        ReviewRetention: NO_CHILD,
    },
)
