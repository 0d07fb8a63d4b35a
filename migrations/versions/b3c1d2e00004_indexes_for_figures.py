"""indexes for zero-out figures and coverage

Revision ID: b3c1d2e00004
Revises: 9d5c08c1ee53

The zero-out figures (server/reports/zero.py) read the candidate hazards of a
district from one covering index, and sum each one's opening and closing
events from a partial covering index whose condition is the query's own
(written with the literal 'closed' so that both planners can match it). A
campaign's coverage reads its visits by district and subject from one index.
Measurements and plans: docs/benchmarks.md.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3c1d2e00004'
down_revision = '9d5c08c1ee53'
branch_labels = None
depends_on = None

LEDGER_WHERE = "from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"


def upgrade():
    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.create_index('ix_hazard_figures', ['district_code', 'status', 'closed_at', 'created_at', 'domain',
                                                    'severity', 'campaign_id', 'id'], unique=False)
    with op.batch_alter_table('hazard_event', schema=None) as batch_op:
        batch_op.create_index('ix_hazard_event_ledger', ['hazard_id', 'at', 'from_status', 'to_status'], unique=False,
                              sqlite_where=sa.text(LEDGER_WHERE), postgresql_where=sa.text(LEDGER_WHERE))
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_campaign_coverage', ['campaign_id', 'subject_id', 'outcome',
                                                                  'district_code'], unique=False)


def downgrade():
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_index('ix_inspection_campaign_coverage')
    with op.batch_alter_table('hazard_event', schema=None) as batch_op:
        batch_op.drop_index('ix_hazard_event_ledger', sqlite_where=sa.text(LEDGER_WHERE),
                            postgresql_where=sa.text(LEDGER_WHERE))
    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.drop_index('ix_hazard_figures')
