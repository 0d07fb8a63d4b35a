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
    op.create_table('case_counter',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_case_counter'))
    )
    op.create_table('enforcement_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=64), nullable=False),
    sa.Column('client_key', sa.Uuid(), nullable=False),
    sa.Column('payload_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('cause', sa.String(length=300), nullable=False),
    sa.Column('party_kind', sa.String(length=16), nullable=False),
    sa.Column('enterprise_id', sa.Uuid(), nullable=True),
    sa.Column('party_name', sa.String(length=200), nullable=False),
    sa.Column('party_id_number', sa.String(length=18), nullable=True),
    sa.Column('party_representative', sa.String(length=100), nullable=True),
    sa.Column('party_address', sa.String(length=300), nullable=True),
    sa.Column('party_phone', sa.String(length=32), nullable=True),
    sa.Column('district_code', sa.String(length=12), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('facts', sa.Text(), nullable=True),
    sa.Column('articles_violated', sa.JSON(), nullable=False),
    sa.Column('penalty_basis', sa.JSON(), nullable=False),
    sa.Column('filed_at', sa.DateTime(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('decision_due', sa.Date(), nullable=False),
    sa.Column('receiving_agency', sa.String(length=200), nullable=True),
    sa.Column('transferred_on', sa.Date(), nullable=True),
    sa.Column('dossier_sha256', sa.String(length=64), nullable=True),
    sa.Column('accepted_on', sa.Date(), nullable=True),
    sa.Column('penalty_kinds', sa.JSON(), nullable=True),
    sa.Column('penalty_amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('decision_no', sa.String(length=100), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('returned_on', sa.Date(), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_enforcement_case_created_by_user_account')),
    sa.ForeignKeyConstraint(['district_code'], ['district.code'], name=op.f('fk_enforcement_case_district_code_district')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_enforcement_case_enterprise_id_enterprise')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enforcement_case')),
    sa.UniqueConstraint('case_no', name=op.f('uq_enforcement_case_case_no')),
    sa.UniqueConstraint('client_key', name=op.f('uq_enforcement_case_client_key')),
    sa.UniqueConstraint('year', 'number', name='uq_enforcement_case_year_number')
    )
    with op.batch_alter_table('enforcement_case', schema=None) as batch_op:
        batch_op.create_index('ix_enforcement_case_district_status', ['district_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_enforcement_case_enterprise_id'), ['enterprise_id'], unique=False)

    op.create_table('case_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('client_key', sa.Uuid(), nullable=True),
    sa.Column('payload_hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_case_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['enforcement_case.id'], name=op.f('fk_case_event_case_id_enforcement_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_event')),
    sa.UniqueConstraint('client_key', name=op.f('uq_case_event_client_key'))
    )
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_event_case_id'), ['case_id'], unique=False)

    op.create_table('case_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=True),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('records', sa.JSON(), nullable=False),
    sa.Column('added_by', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by'], ['user_account.id'], name=op.f('fk_case_evidence_added_by_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['enforcement_case.id'], name=op.f('fk_case_evidence_case_id_enforcement_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_evidence'))
    )
    with op.batch_alter_table('case_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_evidence_case_id'), ['case_id'], unique=False)

    op.create_table('case_officer',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('certificate_no', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['enforcement_case.id'], name=op.f('fk_case_officer_case_id_enforcement_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_case_officer_user_id_user_account')),
    sa.PrimaryKeyConstraint('case_id', 'user_id', name=op.f('pk_case_officer'))
    )
    with op.batch_alter_table('case_officer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_officer_user_id'), ['user_id'], unique=False)

    op.create_table('case_inspection',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['enforcement_case.id'], name=op.f('fk_case_inspection_case_id_enforcement_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'], name=op.f('fk_case_inspection_inspection_id_inspection')),
    sa.PrimaryKeyConstraint('case_id', 'inspection_id', name=op.f('pk_case_inspection'))
    )
    with op.batch_alter_table('case_inspection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_inspection_inspection_id'), ['inspection_id'], unique=False)

    op.create_table('case_hazard',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['enforcement_case.id'], name=op.f('fk_case_hazard_case_id_enforcement_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazard.id'], name=op.f('fk_case_hazard_hazard_id_hazard')),
    sa.PrimaryKeyConstraint('case_id', 'hazard_id', name=op.f('pk_case_hazard'))
    )
    with op.batch_alter_table('case_hazard', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_hazard_hazard_id'), ['hazard_id'], unique=False)



def downgrade():
    with op.batch_alter_table('case_hazard', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_hazard_hazard_id'))

    op.drop_table('case_hazard')
    with op.batch_alter_table('case_inspection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_inspection_inspection_id'))

    op.drop_table('case_inspection')
    with op.batch_alter_table('case_officer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_officer_user_id'))

    op.drop_table('case_officer')
    with op.batch_alter_table('case_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_evidence_case_id'))

    op.drop_table('case_evidence')
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_event_case_id'))

    op.drop_table('case_event')
    with op.batch_alter_table('enforcement_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enforcement_case_enterprise_id'))
        batch_op.drop_index('ix_enforcement_case_district_status')

    op.drop_table('enforcement_case')
    op.drop_table('case_counter')
