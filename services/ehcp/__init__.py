"""The ehcp service (not built yet): requests for EHC needs assessment, decisions, advice, draft and
final plans, annual reviews, amendments, ceasing and appeals on statutory clocks. It has no process until
its issue is taken."""
