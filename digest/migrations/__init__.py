"""Alembic's script folder: env.py and the hand-written revisions in versions/. Revisions never
import digest.schema (a migration stays as it was written); digest.migrate runs them."""
