"""Cases: what a registered queja or denuncia is, how it is numbered, routed and stored."""
