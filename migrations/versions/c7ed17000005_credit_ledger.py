"""credit ledger

Revision ID: c7ed17000005
Revises: ad1700000045

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7ed17000005'
down_revision = 'ad1700000045'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
