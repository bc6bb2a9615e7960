"""Electronic licences: issue, hold, present, verify, revoke, and holder-authorised use."""
