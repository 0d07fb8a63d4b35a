"""cases transferred to enforcement

Revision ID: ca5e00000006
Revises: c7ed17000005

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ca5e00000006'
down_revision = 'c7ed17000005'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
