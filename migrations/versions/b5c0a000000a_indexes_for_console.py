"""indexes for the console's lists; snapshots of the dashboard's figures

Revision ID: b5c0a000000a
Revises: a9d170000009

The console's lists page newest first by keyset: a district's hazards walk
(district_code, created_at, id), the city's visits (started_at, id), a
district's subjects (district_code, id), each stopping after one page instead
of sorting the district or the city. The dashboard reads its figures from
dashboard_snapshot, made every few minutes by the scheduler. Measurements:
docs/benchmarks.md (console pages).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5c0a000000a'
down_revision = 'a9d170000009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dashboard_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.DateTime(), nullable=False),
    sa.Column('computed_ms', sa.Integer(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_snapshot'))
    )
    with op.batch_alter_table('dashboard_snapshot', schema=None) as batch_op:
        batch_op.create_index('ix_dashboard_snapshot_as_of', ['as_of'], unique=False)

    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.create_index('ix_hazard_district_created', ['district_code', 'created_at', 'id'], unique=False)

    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_started', ['started_at', 'id'], unique=False)

    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.create_index('ix_subject_district_id', ['district_code', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.drop_index('ix_subject_district_id')

    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_index('ix_inspection_started')

    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.drop_index('ix_hazard_district_created')

    with op.batch_alter_table('dashboard_snapshot', schema=None) as batch_op:
        batch_op.drop_index('ix_dashboard_snapshot_as_of')

    op.drop_table('dashboard_snapshot')
