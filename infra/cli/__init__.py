"""The `sendcase` command: the Typer app (`app`), one module per service's subcommands (`register`,
`notifications`), what they share (`common`: who is acting, sending, printing), finding a running stack
(`locate`) and replies as text (`render`). `python -m infra.cli` runs it too."""
