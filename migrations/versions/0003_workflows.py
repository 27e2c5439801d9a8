"""collection workflows (issue 5): levels, reminder items, batches

Revision ID: 0003_workflows
Revises: 0002a_holds
Create Date: 2026-11-23 13:00:00

Reserved in the chain so that the four feature branches can each fill their
own revision without creating several Alembic heads.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0003_workflows'
down_revision = '0002a_holds'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
