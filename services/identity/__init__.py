"""Identity: accounts, password login, access tokens (JWT) and the JWKS that verifies them."""
