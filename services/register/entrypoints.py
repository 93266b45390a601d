"""The register's commands and queries, each bound to the method that answers it (see
services/runtime/routes.py for what the runtime does with each line)."""

from __future__ import annotations

from contracts.register import (
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
    LaCounts,
    LiftLegalHold,
    NoteConcern,
    PlaceLegalHold,
    PupilHistory,
    RecordLookedAfter,
    RecordOtherRegisters,
    RecordPeopleWithParentalResponsibility,
    RecordSenProvision,
    RecordSubjectAccessRequest,
    RegisterSubjectAccess,
    RemoveFromSenRegister,
    ReviewRetention,
    SchoolRegister,
    TransferPupil,
    WithdrawConsentToShare,
)
from services.register.application import Register
from services.register.queries import RegisterQueries
from services.runtime.routes import Routes

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
    },
)
