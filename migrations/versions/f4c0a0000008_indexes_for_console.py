"""an empty slot (first meant for the console's indexes, which came later: b5c0a000000a)

Revision ID: f4c0a0000008
Revises: e1a000000007

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f4c0a0000008'
down_revision = 'e1a000000007'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
