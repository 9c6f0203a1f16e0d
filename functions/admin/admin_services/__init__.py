"""The admin API's logic, one service per resource; nothing here knows of HTTP."""
