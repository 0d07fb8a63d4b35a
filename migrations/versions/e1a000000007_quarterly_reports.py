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


def upgrade():
    pass


def downgrade():
    pass
