"""money rules and pay-and-stop (issue 7): fees, payment references, public answers

Revision ID: 0004_money_rules
Revises: 0003_workflows
Create Date: 2026-11-23 13:00:00

Reserved in the chain so that the four feature branches can each fill their
own revision without creating several Alembic heads.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0004_money_rules'
down_revision = '0003_workflows'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
