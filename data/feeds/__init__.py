"""Outside data coming in: row parsing and validation, the NGSI-v2 mapping, the replay tool."""
