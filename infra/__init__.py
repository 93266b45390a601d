"""How to run sendcase: the embedded development stack, the process supervisor and the `sendcase` CLI.

infra may import the services (it composes them); no service imports infra.
"""
