"""The officials' pilot comparison pages (Dash's page loader skips this file and `_` files)."""
