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
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_days', sa.Integer(), server_default='8', nullable=False))
        batch_op.add_column(sa.Column('letter_window', sa.String(length=5), server_default='right', nullable=False))

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_kind', sa.String(length=20), server_default='', nullable=False))

    op.create_table('message_template',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_message_template_account_id_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_template')),
        sa.UniqueConstraint('account_id', 'kind', 'channel', 'language', name='uq_message_template'),
    )
    op.create_table('pdf_cache',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('variant', sa.String(length=40), nullable=False),
        sa.Column('state_hash', sa.String(length=64), nullable=False),
        sa.Column('pdf', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_pdf_cache_invoice_id_invoice'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pdf_cache')),
        sa.UniqueConstraint('invoice_id', 'variant', name='uq_pdf_cache_invoice_variant'),
    )


def downgrade():
    op.drop_table('pdf_cache')
    op.drop_table('message_template')
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_column('document_kind')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('letter_window')
        batch_op.drop_column('notice_days')
