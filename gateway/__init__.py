"""The gateway: the unified office (`/office`) and public (`/public`) entry points over HTTP."""
