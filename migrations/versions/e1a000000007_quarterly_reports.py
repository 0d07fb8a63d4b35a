"""quarterly analysis snapshots

Revision ID: e1a000000007
Revises: ca5e00000006

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1a000000007'
down_revision = 'ca5e00000006'
branch_labels = None
depends_on = None

REFUSAL = 'quarterly_report rows are immutable: making a quarter again adds a version'


def upgrade():
    op.create_table('quarterly_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quarter', sa.String(length=7), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('made_at', sa.DateTime(), nullable=False),
    sa.Column('made_by', sa.Integer(), nullable=True),
    sa.Column('as_of', sa.DateTime(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['made_by'], ['user_account.id'], name=op.f('fk_quarterly_report_made_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarterly_report')),
    sa.UniqueConstraint('quarter', 'version', name=op.f('uq_quarterly_report_quarter'))
    )
    with op.batch_alter_table('quarterly_report', schema=None) as batch_op:
        batch_op.create_index('uq_quarterly_report_scheduled', ['quarter'], unique=True,
                              sqlite_where=sa.text('made_by IS NULL'), postgresql_where=sa.text('made_by IS NULL'))
    # The ledger's events in time order (server/reports/models.py says why).
    with op.batch_alter_table('hazard_event', schema=None) as batch_op:
        batch_op.create_index('ix_hazard_event_ledger_at', ['at', 'to_status', 'from_status', 'hazard_id'],
                              unique=False,
                              sqlite_where=sa.text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"),
                              postgresql_where=sa.text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"))
    # A snapshot is never changed: the database itself refuses UPDATE and DELETE of a row.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION quarterly_report_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}';
            END $$""")
        op.execute("CREATE TRIGGER quarterly_report_immutable BEFORE UPDATE OR DELETE ON quarterly_report "
                   "FOR EACH ROW EXECUTE FUNCTION quarterly_report_immutable()")
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER quarterly_report_no_{verb.lower()} BEFORE {verb} ON quarterly_report "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")


def downgrade():
    with op.batch_alter_table('hazard_event', schema=None) as batch_op:
        batch_op.drop_index('ix_hazard_event_ledger_at',
                            sqlite_where=sa.text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"),
                            postgresql_where=sa.text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"))
    op.drop_table('quarterly_report')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS quarterly_report_immutable()")
