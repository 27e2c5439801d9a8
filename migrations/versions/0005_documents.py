"""documents (issue 6): templates, cached PDFs, letters

Revision ID: 0005_documents
Revises: 0004_money_rules
Create Date: 2026-11-23 13:00:00

Reserved in the chain so that the four feature branches can each fill their
own revision without creating several Alembic heads.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0005_documents'
down_revision = '0004_money_rules'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
