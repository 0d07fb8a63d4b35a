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
    op.create_table('credit_standard_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('registered_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_standard_version')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_credit_standard_version_code'))
    )
    op.create_table('credit_deduction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Uuid(), nullable=False),
    sa.Column('standard_code', sa.String(length=64), nullable=False),
    sa.Column('standard_version', sa.Integer(), nullable=False),
    sa.Column('rule_code', sa.String(length=32), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('veto', sa.Boolean(), nullable=False),
    sa.Column('source_kind', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('district_code', sa.String(length=12), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('valid_until', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('effective_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('client_id', sa.Uuid(), nullable=True),
    sa.Column('payload_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_credit_deduction_created_by_user_account')),
    sa.ForeignKeyConstraint(['district_code'], ['district.code'], name=op.f('fk_credit_deduction_district_code_district')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_credit_deduction_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['standard_code', 'standard_version'], ['credit_standard_version.code', 'credit_standard_version.version'], name='fk_credit_deduction_standard'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_deduction')),
    sa.UniqueConstraint('client_id', name=op.f('uq_credit_deduction_client_id')),
    sa.UniqueConstraint('enterprise_id', 'rule_code', 'source_kind', 'source_id', name='uq_credit_deduction_source')
    )
    with op.batch_alter_table('credit_deduction', schema=None) as batch_op:
        batch_op.create_index('ix_credit_deduction_district_status', ['district_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_deduction_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index('ix_credit_deduction_status', ['status', 'id'], unique=False)

    op.create_table('credit_deduction_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deduction_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_credit_deduction_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['deduction_id'], ['credit_deduction.id'], name=op.f('fk_credit_deduction_event_deduction_id_credit_deduction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_deduction_event'))
    )
    with op.batch_alter_table('credit_deduction_event', schema=None) as batch_op:
        batch_op.create_index('ix_credit_deduction_event_at', ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_deduction_event_deduction_id'), ['deduction_id'], unique=False)


def downgrade():
    with op.batch_alter_table('credit_deduction_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_deduction_event_deduction_id'))
        batch_op.drop_index('ix_credit_deduction_event_at')

    op.drop_table('credit_deduction_event')
    with op.batch_alter_table('credit_deduction', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_deduction_status')
        batch_op.drop_index(batch_op.f('ix_credit_deduction_enterprise_id'))
        batch_op.drop_index('ix_credit_deduction_district_status')

    op.drop_table('credit_deduction')
    op.drop_table('credit_standard_version')
