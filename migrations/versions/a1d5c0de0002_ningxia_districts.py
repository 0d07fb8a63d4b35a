"""Ningxia division codes (research §10): the districts users and subjects belong to.

Revision ID: a1d5c0de0002
Revises: 837443a4a6d8
"""
import sqlalchemy as sa
from alembic import op

revision = "a1d5c0de0002"
down_revision = "837443a4a6d8"
branch_labels = None
depends_on = None

# (code, name, parent, level): frozen here so that this migration means the same forever.
DISTRICTS = [
    ("640000", "宁夏回族自治区", None, "province"),
    ("640100", "银川市", "640000", "prefecture"),
    ("640104", "兴庆区", "640100", "county"),
    ("640105", "西夏区", "640100", "county"),
    ("640106", "金凤区", "640100", "county"),
    ("640121", "永宁县", "640100", "county"),
    ("640122", "贺兰县", "640100", "county"),
    ("640181", "灵武市", "640100", "county"),
    ("640200", "石嘴山市", "640000", "prefecture"),
    ("640202", "大武口区", "640200", "county"),
    ("640205", "惠农区", "640200", "county"),
    ("640221", "平罗县", "640200", "county"),
    ("640300", "吴忠市", "640000", "prefecture"),
    ("640302", "利通区", "640300", "county"),
    ("640303", "红寺堡区", "640300", "county"),
    ("640323", "盐池县", "640300", "county"),
    ("640324", "同心县", "640300", "county"),
    ("640381", "青铜峡市", "640300", "county"),
    ("640400", "固原市", "640000", "prefecture"),
    ("640402", "原州区", "640400", "county"),
    ("640422", "西吉县", "640400", "county"),
    ("640423", "隆德县", "640400", "county"),
    ("640424", "泾源县", "640400", "county"),
    ("640425", "彭阳县", "640400", "county"),
    ("640500", "中卫市", "640000", "prefecture"),
    ("640502", "沙坡头区", "640500", "county"),
    ("640521", "中宁县", "640500", "county"),
    ("640522", "海原县", "640500", "county"),
]


def upgrade():
    table = sa.table("district", sa.column("code"), sa.column("name"), sa.column("parent_code"), sa.column("level"))
    op.bulk_insert(table, [dict(code=c, name=n, parent_code=p, level=lvl) for c, n, p, lvl in DISTRICTS])


def downgrade():
    op.execute(sa.text("DELETE FROM district WHERE code LIKE '64%'"))
