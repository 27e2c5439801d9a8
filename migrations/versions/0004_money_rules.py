"""money rules and pay-and-stop (issue 7): fees, payment references, public answers

Revision ID: 0004_money_rules
Revises: 0003_workflows
Create Date: 2026-11-23 13:00:00

Late fees (account switch, owner costs per level, reference-rate corrections),
the Belgian structured communication and the public page token of each invoice,
and the client's answers from that page.
"""
import secrets

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0004_money_rules'
down_revision = '0003_workflows'
branch_labels = None
depends_on = None


def _new_ogm():
    base = secrets.randbelow(10**10 - 1) + 1
    return f"{base:010d}{base % 97 or 97:02d}"


def upgrade():
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fees_legal', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('structured_ref', sa.String(length=12), server_default='', nullable=False))
        batch_op.add_column(sa.Column('public_token', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_invoice_public_token'), ['public_token'])

    # Existing invoices get their structured communication now.
    connection = op.get_bind()
    invoice = sa.table('invoice', sa.column('id', sa.Integer), sa.column('structured_ref', sa.String))
    ids = connection.execute(sa.select(invoice.c.id).where(invoice.c.structured_ref == '')).scalars().all()
    for invoice_id in ids:
        connection.execute(
            invoice.update().where(invoice.c.id == invoice_id).values(structured_ref=_new_ogm())
        )

    op.create_table(
        'fee_cost',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('fixed_cents', sa.Integer(), nullable=False),
        sa.Column('percent_bp', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_fee_cost_account_id_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_cost')),
        sa.UniqueConstraint('account_id', 'level', name='uq_fee_cost_account_level'),
    )
    op.create_table(
        'rate_override',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('series', sa.String(length=10), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('rate_bp', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_rate_override_account_id_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_override')),
        sa.UniqueConstraint('account_id', 'series', 'starts_on', name='uq_rate_override_account_series_start'),
    )
    op.create_table(
        'client_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('promised_on', sa.Date(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_client_answer_account_id_account'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_client_answer_invoice_id_invoice'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_client_answer')),
    )
    with op.batch_alter_table('client_answer', schema=None) as batch_op:
        batch_op.create_index('ix_client_answer_account_resolved', ['account_id', 'resolved_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_client_answer_invoice_id'), ['invoice_id'], unique=False)


def downgrade():
    with op.batch_alter_table('client_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_answer_invoice_id'))
        batch_op.drop_index('ix_client_answer_account_resolved')
    op.drop_table('client_answer')
    op.drop_table('rate_override')
    op.drop_table('fee_cost')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_invoice_public_token'), type_='unique')
        batch_op.drop_column('public_token')
        batch_op.drop_column('structured_ref')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('fees_legal')
