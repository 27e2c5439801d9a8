"""account security (issue 14): verified owner address

Revision ID: 0007_account_security
Revises: 0006_imports
Create Date: 2026-12-07 02:30:00

Accounts that exist before this revision were made by the operator (demo, CLI) or
registered before verification existed: they count as verified from their creation.
"""

import sqlalchemy as sa
from alembic import op

import app.models


# revision identifiers, used by Alembic.
revision = "0007_account_security"
down_revision = "0006_imports"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE account SET email_verified_at = created_at")


def downgrade():
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
