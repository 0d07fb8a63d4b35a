"""indexes for zero-out figures and coverage

Revision ID: b3c1d2e00004
Revises: 9d5c08c1ee53

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3c1d2e00004'
down_revision = '9d5c08c1ee53'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
