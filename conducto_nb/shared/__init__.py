"""Conducto 0.1.x's `conducto.shared` import paths that scripts used, kept so they work with
only the package renamed: `shared.log.unindent` (Conducto's own CI demo imports it) and
`shared.types` (flags written as text, read the way Conducto read them).

May import: nothing of the package; everything else imports it.
"""
