"""import and reconcile (issue 9): uploads, statement lines

Revision ID: 0006_imports
Revises: 0005_documents
Create Date: 2026-11-23 13:00:00

Reserved in the chain so that the four feature branches can each fill their
own revision without creating several Alembic heads.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0006_imports'
down_revision = '0005_documents'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
