"""Authentication and request hardening for the Dash server.

Kept free of imports so that pure helpers (``passwords``) load without Flask;
``dashboard.auth.setup.install_auth`` wires everything into an app.
"""
