"""The admin API's routes, one Powertools router per resource (admin_handler includes them all)."""
