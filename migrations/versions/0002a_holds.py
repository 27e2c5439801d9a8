"""invoice holds (DESIGN.md rule 2): a client's answer or a possible payment holds reminders

Revision ID: 0002a_holds
Revises: 0002_reminder_engine
Create Date: 2026-11-23 13:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002a_holds'
down_revision = '0002_reminder_engine'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_reason', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('hold_detail', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('hold_until', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('hold_until')
        batch_op.drop_column('hold_detail')
        batch_op.drop_column('hold_reason')
