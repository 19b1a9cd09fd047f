"""The Dash application: shell, access control, pages (see ``dashboard.app.create_app``)."""
