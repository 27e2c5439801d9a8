"""import and reconcile (issue 9): uploads, statement lines

Revision ID: 0006_imports
Revises: 0005_documents
Create Date: 2026-11-23 13:00:00

Reserved in the chain so that the four feature branches can each fill their
own revision without creating several Alembic heads.
"""

import sqlalchemy as sa
from alembic import op

import app.models


# revision identifiers, used by Alembic.
revision = "0006_imports"
down_revision = "0005_documents"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("already_emailed", sa.Boolean(), nullable=False),
        sa.Column("valid_only", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", app.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_import_file_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_file")),
    )
    with op.batch_alter_table("import_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_file_account_id"), ["account_id"], unique=False)

    op.create_table(
        "statement_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("bank_id", sa.String(length=140), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("counterparty", sa.String(length=200), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("match_reason", sa.String(length=30), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_statement_line_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_file.id"],
            name=op.f("fk_statement_line_import_id_import_file"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoice.id"],
            name=op.f("fk_statement_line_invoice_id_invoice"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payment.id"],
            name=op.f("fk_statement_line_payment_id_payment"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_line")),
        sa.UniqueConstraint("account_id", "bank_id", name="uq_statement_line_account_bank_id"),
    )
    with op.batch_alter_table("statement_line", schema=None) as batch_op:
        batch_op.create_index("ix_statement_line_account_state", ["account_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_line_import_id"), ["import_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_line_invoice_id"), ["invoice_id"], unique=False)


def downgrade():
    with op.batch_alter_table("statement_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_line_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_statement_line_import_id"))
        batch_op.drop_index("ix_statement_line_account_state")

    op.drop_table("statement_line")
    with op.batch_alter_table("import_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_file_account_id"))

    op.drop_table("import_file")
