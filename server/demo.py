"""Demonstration data: a small, realistic 银川 with gas users, self-built houses, sites and accounts.

Everything is generated from a fixed seed, so two runs on empty databases
produce the same register (only the random row ids differ). Subjects go
through the registry importer, so the demo data obeys exactly the rules an
imported file must obey.
"""

from __future__ import annotations

import math
import random

from sqlalchemy import select

from server.accounts.models import User
from server.accounts.service import create_user
from server.errors import ProblemError
from server.extensions import db
from server.registry import credit_code, importer
from server.inspections.models import LeaderDuty
from server.registry.models import Enterprise, Subject, SubjectEnterprise

SEED = 2026
SCATTER_M = 3000.0
_M_PER_DEG_LAT = 111_320.0

# code -> (name, centre lat, centre lon) in WGS-84
DISTRICTS = {
    "640104": ("兴庆区", 38.47, 106.29),
    "640105": ("西夏区", 38.49, 106.15),
    "640106": ("金凤区", 38.47, 106.23),
    "640121": ("永宁县", 38.28, 106.25),
    "640122": ("贺兰县", 38.55, 106.35),
}

# How many subjects of each kind per district: (households, catering, houses, sites).
PLAN = {
    "640104": (60, 12, 14, 6),
    "640106": (50, 8, 12, 7),
    "640105": (45, 6, 12, 4),
    "640121": (8, 2, 6, 2),
    "640122": (7, 2, 6, 1),
}

STREETS = {
    "640104": ["解放东街", "解放西街", "鼓楼北街", "鼓楼南街", "文化东街", "新华东街", "清和北街", "胜利南街",
               "中山南街", "玉皇阁北街", "民族北街", "丽景北街", "北京东路", "湖滨东街"],
    "640106": ["北京中路", "正源北街", "宁安大街", "亲水大街", "贺兰山中路", "万寿路", "黄河东路",
               "长城中路", "康平路", "上海西路"],
    "640105": ["怀远东路", "文萃南街", "北京西路", "同心南街", "朔方路", "学院路", "贺兰山西路",
               "宁朔南街", "文昌北街", "怀远西路"],
    "640121": ["宁和南街", "团结东路", "观湖路", "永胜路"],
    "640122": ["银河东路", "光明西路", "富兴南街", "贺兰山路"],
}
# What an urban address starts with: the district, and for a county its seat town.
ADDRESS_PREFIX = {"640104": "兴庆区", "640105": "西夏区", "640106": "金凤区", "640121": "永宁县杨和镇",
                  "640122": "贺兰县习岗镇"}

COMMUNITIES = {
    "640104": ["丽景花园", "湖畔嘉苑", "新华园", "凤凰苑", "清和佳苑", "文化小区", "玉皇阁小区", "东方红小区"],
    "640106": ["阅海湾锦园", "金河湾花园", "宁安苑", "正源小区", "亲水湾", "万寿佳园", "长城花园"],
    "640105": ["文萃苑", "怀远小区", "朔方佳苑", "同心家园", "学院里", "宁朔花园"],
    "640121": ["永宁和园", "观湖小区"],
    "640122": ["贺兰银河苑", "光明小区"],
}

# Towns and villages on the urban fringe, where 自建房 and bottled gas are common.
VILLAGES = {
    "640104": [("掌政镇", "强家庙村"), ("掌政镇", "碱富桥村"), ("大新镇", "塔桥村"), ("大新镇", "燕鸽村"),
               ("通贵乡", "河滩村")],
    "640106": [("良田镇", "金星村"), ("良田镇", "和顺新村"), ("丰登镇", "润丰村"), ("丰登镇", "增岗村")],
    "640105": [("兴泾镇", "红旗村"), ("兴泾镇", "泾龙村"), ("镇北堡镇", "吴苑村"), ("镇北堡镇", "昊苑村")],
    "640121": [("杨和镇", "王团村"), ("望远镇", "板桥村"), ("李俊镇", "李俊村")],
    "640122": [("习岗镇", "桃林村"), ("金贵镇", "银河村"), ("立岗镇", "立岗村")],
}

SURNAMES = ["马", "王", "李", "张", "刘", "杨", "丁", "海", "纳", "田", "赵", "陈", "周", "白", "金", "吴", "苏", "冯"]
GIVEN_NAMES = ["建国", "秀英", "玉兰", "志强", "海燕", "明", "伟", "娟", "文华", "学军", "淑芬", "国庆", "红梅",
               "少华", "晓东", "梅", "彦明", "永福", "桂兰", "丽", "德福", "玉花", "成林", "春燕", "占山"]
SHOP_PREFIXES = ["老马家", "丁记", "杨记", "海家", "纳家", "白记", "马三", "田氏", "回乡", "塞上", "贺兰山",
                 "凤城", "阅海", "黄河", "沙湖", "西夏"]
SHOP_KINDS = ["手抓羊肉馆", "牛肉拉面馆", "羊杂碎店", "烧烤店", "火锅店", "清真餐厅", "烩小吃店", "饸饹面馆",
              "炒糊饽店", "家常菜馆", "早茶店", "羊羔肉馆"]
SHOP_PLACES = ["一层商铺", "临街商铺", "底商"]

# Invented enterprise names: plausible, not any real company's exact name.
GAS_OPERATORS = {  # name -> (supplies piped gas, districts served)
    "银川凤鸣燃气有限公司": (True, ("640104", "640106")),
    "宁夏贺兰山清源燃气有限公司": (True, ("640105", "640121", "640122")),
    "银川宁安液化气供应有限公司": (False, ("640104", "640106")),
    "宁夏沙湖瓶装燃气有限公司": (False, ("640105", "640121", "640122")),
}
CONTRACTORS = ["宁夏鼎晟建设工程有限公司", "宁夏黄河恒建集团有限公司", "银川宏筑建筑工程有限公司",
               "宁夏贺兰山建设集团有限公司", "宁夏西部恒基建设有限公司", "宁夏塞北建筑安装工程有限公司",
               "银川永固建设有限公司", "宁夏明泰建设工程有限公司", "宁夏新瑞建设工程有限公司",
               "宁夏六盘建工有限公司"]
SUPERVISORS = ["宁夏正信工程监理有限公司", "银川诚达建设监理有限公司", "宁夏方圆工程咨询监理有限公司",
               "宁夏远衡工程项目管理有限公司", "银川中衡建设监理有限公司"]
DEVELOPERS = ["银川阅海置业有限公司", "宁夏凤凰城房地产开发有限公司", "银川金河湾房地产开发有限公司",
              "宁夏塞上明珠置业有限公司", "银川西夏新城投资开发有限公司", "宁夏贺兰湾房地产开发有限公司"]
PROPERTY_MANAGERS = ["银川悦居物业服务有限公司", "宁夏万家和物业管理有限公司", "银川金安物业服务有限公司",
                     "宁夏安居乐物业服务有限公司"]

# (project name, district, has a developer): public projects are built by a public body, not a developer.
SITES = [
    ("阅海湾锦园二期住宅楼", "640106", True),
    ("凤凰城三期3#—8#住宅楼及地下车库", "640104", True),
    ("金河湾花园二期住宅楼", "640106", True),
    ("塞上明珠御景苑一期商住楼", "640104", True),
    ("兴庆区第十二小学教学综合楼", "640104", False),
    ("金凤区社区卫生服务中心门诊楼", "640106", False),
    ("西夏新城棚户区改造安置房（一标段）", "640105", True),
    ("贺兰湾水岸花园二期住宅楼", "640122", True),
    ("永宁县职业技术学校实训楼", "640121", False),
    ("丽景湖畔三期住宅楼", "640104", True),
    ("西夏区全民健身中心体育馆", "640105", False),
    ("兴庆府商业广场综合楼", "640104", True),
    ("阅海万家D区住宅楼", "640106", True),
    ("湖城花园二期住宅楼及商业", "640106", True),
    ("正源街保障性租赁住房项目", "640106", False),
    ("文萃苑二期住宅楼", "640105", True),
    ("宁安苑三期1#—6#住宅楼", "640106", True),
    ("览山雅居一期住宅楼", "640105", True),
    ("黄河东路物流仓储中心", "640104", True),
    ("杨和镇观湖壹号二期住宅楼", "640121", True),
]

ACCOUNTS = [  # username, name, roles, districts
    ("inspector1", "马晓东", ["inspector"], ["640104"]),
    ("inspector2", "李娜", ["inspector"], ["640106"]),
    ("inspector3", "王磊", ["inspector"], ["640105"]),
    ("leader", "张国华", ["leader"], ["640100"]),
    ("committee", "安委会办公室", ["committee"], []),
    ("enforcement", "刘洋", ["enforcement"], ["640100"]),
    ("admin", "系统管理员", ["admin"], []),
]


def _password(username: str) -> str:
    return f"demo-{username}"


class _City:
    """The generator: one random stream, so the whole city follows from the seed."""

    def __init__(self):
        self.rng = random.Random(SEED)
        self.codes: set[str] = set()
        self.enterprises: dict[str, tuple[str, str]] = {}  # name -> (credit code, kind)
        self.names: set[str] = set()
        self.pools: dict[str, list[str]] = {}

    # -- building blocks ---------------------------------------------------------------------------

    def credit_code(self, division: str) -> str:
        while True:
            body = "".join(self.rng.choice(credit_code.ALPHABET) for _ in range(9))
            first17 = f"91{division}{body}"
            code = first17 + credit_code.check_char(first17)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def enterprise(self, name: str, kind: str) -> tuple[str, str, str]:
        if name not in self.enterprises:
            division = self.rng.choice(["640100", "640104", "640105", "640106"])
            self.enterprises[name] = (self.credit_code(division), kind)
        code, kind = self.enterprises[name]
        return code, name, kind

    def take(self, pool: list[str]) -> str:
        """Deal names from a shuffled pool, reshuffling when it runs out, so every name is used."""
        key = pool[0]
        if not self.pools.get(key):
            self.pools[key] = self.rng.sample(pool, len(pool))
        return self.pools[key].pop()

    def position(self, district: str) -> tuple[float, float]:
        _, lat0, lon0 = DISTRICTS[district]
        radius = SCATTER_M * math.sqrt(self.rng.random())
        angle = self.rng.uniform(0, 2 * math.pi)
        lat = lat0 + radius * math.cos(angle) / _M_PER_DEG_LAT
        lon = lon0 + radius * math.sin(angle) / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
        return round(lat, 6), round(lon, 6)

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_NAMES)

    def unique(self, make) -> str:
        while True:
            value = make()
            if value not in self.names:
                self.names.add(value)
                return value

    def gas_operator(self, district: str, piped: bool) -> tuple[str, str, str]:
        for name, (is_piped, served) in GAS_OPERATORS.items():
            if is_piped == piped and district in served:
                return self.enterprise(name, "gas_operator")
        raise LookupError(district)

    def base(self, ref: str, domain: str, name: str, address: str, district: str,
             enterprise: tuple[str, str, str] | None) -> dict:
        lat, lon = self.position(district)
        row = dict(external_ref=ref, domain=domain, name=name, address=address, district_code=district,
                   lat=lat, lon=lon, crs="wgs84")
        if enterprise:
            row.update(enterprise_credit_code=enterprise[0], enterprise_name=enterprise[1],
                       enterprise_kind=enterprise[2])
        return row

    # -- subjects ----------------------------------------------------------------------------------

    def households(self, district: str, count: int, serial: list[int]) -> tuple[list[dict], dict[str, str]]:
        """Return household rows and, for households in a managed compound, the compound's manager."""
        rows, managers = [], {}
        dname = DISTRICTS[district][0]
        prefix = ADDRESS_PREFIX[district]
        compounds = {c: self.rng.choice(PROPERTY_MANAGERS) for c in COMMUNITIES[district]}
        for _ in range(count):
            serial[0] += 1
            ref = f"GAS-{district}-{serial[0]:06d}"
            piped = self.rng.random() < 0.75
            if piped:
                community = self.rng.choice(COMMUNITIES[district])
                address = (f"{prefix}{self.rng.choice(STREETS[district])}{self.rng.randint(1, 400)}号"
                           f"{community}{self.rng.randint(1, 24)}栋{self.rng.randint(1, 4)}单元"
                           f"{self.rng.randint(1, 18)}{self.rng.randint(1, 4):02d}室")
                managers[ref] = compounds[community]
            else:
                town, village = self.rng.choice(VILLAGES[district])
                address = f"{dname}{town}{village}{self.rng.randint(1, 9)}组{self.rng.randint(1, 120)}号"
            row = self.base(ref, "gas", self.person(), address, district, self.gas_operator(district, piped))
            row.update(user_type="居民管道" if piped else "居民瓶装",
                       gas_source="天然气" if piped else "液化石油气", is_catering="否")
            if piped:
                row["account_no"] = f"{self.rng.randrange(10**9, 10**10)}"
            rows.append(row)
        return rows, managers

    def catering(self, district: str, count: int, serial: list[int]) -> list[dict]:
        rows = []
        prefix = ADDRESS_PREFIX[district]
        for _ in range(count):
            serial[0] += 1
            name = self.unique(lambda: self.rng.choice(SHOP_PREFIXES) + self.rng.choice(SHOP_KINDS))
            piped = self.rng.random() < 0.6
            address = (f"{prefix}{self.rng.choice(STREETS[district])}{self.rng.randint(1, 400)}号"
                       f"{self.rng.choice(SHOP_PLACES)}")
            row = self.base(f"GAS-{district}-{serial[0]:06d}", "gas", name, address, district,
                            self.gas_operator(district, piped))
            row.update(user_type="非居民管道" if piped else "非居民瓶装",
                       gas_source="天然气" if piped else "液化石油气", is_catering="是")
            if piped:
                row["account_no"] = f"{self.rng.randrange(10**9, 10**10)}"
            rows.append(row)
        return rows

    def houses(self, district: str, count: int) -> list[dict]:
        rows = []
        dname = DISTRICTS[district][0]
        for number in range(1, count + 1):
            town, village = self.rng.choice(VILLAGES[district])
            owner = self.person()
            address = f"{dname}{town}{village}{self.rng.randint(1, 9)}组{self.rng.randint(1, 120)}号"
            floors = self.rng.choices([1, 2, 3, 4], weights=[20, 40, 30, 10])[0]
            built = self.rng.randint(1985, 2021)
            structure = self.rng.choices(["砖混/砌体", "砖木", "土木", "钢筋混凝土框架", "钢结构", "其他"],
                                         weights=[55, 15, 10 if built < 2000 else 1, 15,
                                                  3 if built >= 2005 else 0, 2])[0]
            operating = self.rng.random() < 0.35
            row = self.base(f"ZJF-{district}-{number:04d}", "self_built_house", f"{village}{owner}自建房",
                            address, district, None)
            row.update(owner=owner, floors_above=floors, floors_below=1 if self.rng.random() < 0.1 else 0,
                       building_area_m2=round(floors * self.rng.uniform(80, 200), 1), built_year=built,
                       structure_type=structure, is_operating="是" if operating else "否")
            if operating:
                row["operating_type"] = self.rng.choices(["餐饮", "旅馆", "商业", "三合一", "生产"],
                                                         weights=[40, 20, 20, 10, 10])[0]
            if self.rng.random() < 0.4:
                row["appraisal_grade"] = self.rng.choices("ABCD", weights=[10, 15, 10, 5])[0]
            rows.append(row)
        return rows

    def sites(self) -> list[dict]:
        rows, serials = [], {}
        for project, district, has_developer in SITES:
            serials[district] = serials.get(district, 0) + 1
            streets = self.rng.sample(STREETS[district], 2)
            corner = self.rng.choice(["东北", "东南", "西北", "西南"])
            contractor = self.enterprise(self.take(CONTRACTORS), "contractor")
            supervisor = self.enterprise(self.take(SUPERVISORS), "supervisor")
            row = self.base(f"GD-{district}-{serials[district]:03d}", "construction_site", project,
                            f"{ADDRESS_PREFIX[district]}{streets[0]}与{streets[1]}交叉口{corner}侧", district,
                            contractor)
            works = ["脚手架", "起重吊装", "模板支撑"]
            if "住宅" in project or "地下" in project:
                works.insert(0, "基坑")
            works += self.rng.sample(["拆除", "幕墙", "钢结构", "人工挖孔桩"], self.rng.randint(0, 2))
            row.update(project_name=project, contractor_credit_code=contractor[0], contractor_name=contractor[1],
                       supervisor_credit_code=supervisor[0], supervisor_name=supervisor[1],
                       floor_area_m2=float(round(self.rng.uniform(8000, 150000), -1)),
                       dangerous_works=";".join(works))
            if self.rng.random() < 0.9:  # a site without a permit is itself something to inspect
                day = f"{self.rng.randint(2023, 2025)}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}"
                row["permit_no"] = f"{district}{day}{self.rng.randint(1, 30):02d}01"
            if has_developer:
                developer = self.enterprise(self.take(DEVELOPERS), "developer")
                row.update(developer_credit_code=developer[0], developer_name=developer[1])
            rows.append(row)
        return rows


def seed(*, if_empty: bool, with_history: bool = True) -> list[dict] | None:
    """Fill the database with the demo city and accounts, commit, and return the accounts to print."""
    if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
        return None
    taken = sorted(db.session.scalars(select(User.username).where(
        User.username.in_([account[0] for account in ACCOUNTS]))))
    if taken:
        raise ProblemError("conflict", f"demo accounts already exist: {', '.join(taken)}; "
                                       f"the demo data is loaded already")

    city = _City()
    # Enterprises that subjects may not name get their codes up front, so every kind exists.
    for name in PROPERTY_MANAGERS:
        city.enterprise(name, "property_manager")
    rows: list[dict] = []
    managers: dict[str, str] = {}
    for district, (households, catering, houses, _sites) in PLAN.items():
        serial = [0]
        household_rows, household_managers = city.households(district, households, serial)
        rows += household_rows
        managers.update(household_managers)
        rows += city.catering(district, catering, serial)
        rows += city.houses(district, houses)
    rows += city.sites()

    report = importer.import_rows(rows)
    if report.errors:
        raise RuntimeError(f"demo data failed its own import rules: {report.errors[:3]}")

    # The import links each subject to the enterprises its row names; the property manager of a
    # household's compound is an extra party the register keeps outside the import columns.
    for name in PROPERTY_MANAGERS:
        code, kind = city.enterprises[name]
        if db.session.scalar(select(Enterprise.id).where(Enterprise.credit_code == code)) is None:
            db.session.add(Enterprise(credit_code=code, name=name, kind=kind))
    db.session.flush()
    codes = {name: city.enterprises[name][0] for name in PROPERTY_MANAGERS}
    ids_by_code = dict(db.session.execute(select(Enterprise.credit_code, Enterprise.id).where(
        Enterprise.credit_code.in_(list(codes.values())))).all())
    manager_ids = {name: ids_by_code[code] for name, code in codes.items()}
    subject_ids = dict(db.session.execute(select(Subject.external_ref, Subject.id).where(
        Subject.external_ref.in_(list(managers)))).all())
    db.session.add_all(SubjectEnterprise(subject_id=subject_ids[ref], enterprise_id=manager_ids[name])
                       for ref, name in managers.items())

    users = {username: create_user(username=username, password=_password(username), roles=roles,
                                   districts=districts, name=name)
             for username, name, roles, districts in ACCOUNTS}
    # Leader responsibility (包抓): the demo leader answers for every district and field of the demo city.
    db.session.add_all(LeaderDuty(district_code=district, domain=domain, user_id=users["leader"].id)
                       for district in DISTRICTS for domain in ("gas", "self_built_house", "construction_site"))
    db.session.commit()
    if with_history:
        history()
    return accounts()


def accounts() -> list[dict]:
    """Return the demo accounts as they are printed: username, password, roles, districts."""
    return [{"username": username, "password": _password(username), "roles": ",".join(roles),
             "districts": ",".join(districts) or "-"} for username, _name, roles, districts in ACCOUNTS]


# --- a realistic history, so that the console shows something alive --------------------------------

# (item, description, severity or None for the item's own) per field.
HAZARD_KINDS = {
    "gas": [("G02", "未安装管道燃气自闭阀", None), ("G03A", "使用橡胶软管连接燃气灶具，软管老化龟裂", None),
            ("G03C", "连接软管长度超过2米并穿越墙体", None), ("G04A", "燃气灶具无熄火保护装置", None),
            ("G07", "液化气钢瓶超过检验有效期", None), ("G01A", "餐饮用户未安装可燃气体报警器", None),
            ("G10", "燃气管道被杂物圈占", None), ("GM01", "液化石油气钢瓶在地下室使用", "major")],
    "self_built_house": [("H04", "承重墙体出现斜向裂缝", None), ("H07", "屋顶擅自加建一层彩钢房", None),
                         ("H10", "自建房改为餐饮经营未经批准", None), ("H20", "经营场所未配备灭火器和应急照明", None),
                         ("H12", "安全鉴定为C级仍用于经营", "major")],
    "construction_site": [("SF05", "作业层脚手板未满铺，防护栏杆缺失", None), ("CC01", "现场围挡不连续", None),
                          ("SM02", "危大工程专项施工方案未经论证", None), ("CC06", "现场动火作业无审批、未配灭火器", None)],
}
CHECKLIST_OF = {"gas": ("gas-user", 1), "self_built_house": ("self-built-house", 1),
                "construction_site": ("construction-site", 1)}
INSPECTOR_OF = {"640104": "inspector1", "640106": "inspector2", "640105": "inspector3", "640121": "leader",
                "640122": "leader"}
HISTORY_WEEKS = 8
HISTORY_VISITS = 80
HISTORY_PHOTOS = 30  # photos through the real pipeline (about 40 ms each): enough for the before/after pages


def _jpeg(rng: random.Random, after: bool) -> bytes:
    """Return a small photo-like JPEG: a reddish scene before the rectification, a greenish one after."""
    import io

    from PIL import Image, ImageDraw

    base = (70, 150, 90) if after else (170, 80, 60)
    image = Image.new("RGB", (480, 360), base)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randint(0, 420), rng.randint(0, 300)
        shade = tuple(min(255, c + rng.randint(-40, 60)) for c in base)
        draw.rectangle([x, y, x + rng.randint(30, 140), y + rng.randint(20, 90)], fill=shade)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def _store_photo(photo_id, data: bytes) -> None:
    """Receive a demo photo's bytes through the real pipeline (hash, sniff, renditions)."""
    import hashlib
    import io

    from server.photos import service as photo_service
    from server.photos.models import Photo

    photo = db.session.get(Photo, photo_id)
    photo_service.receive(photo=photo, stream=io.BytesIO(data), declared_sha256=hashlib.sha256(data).hexdigest())


def history() -> dict:
    """Make eight weeks of work through the services: a campaign, visits, hazards in every state, majors
    under supervision, overdue ones, rectifications with before and after photos, and credit proposals.

    Time is simulated with ``set_now``; everything goes through the same services as the phone API, so
    the events, supervision listings and credit proposals are those the real flows make.
    """
    import hashlib
    import uuid
    from datetime import datetime, timedelta, timezone

    from server import database
    from server.hazards import flows as hazard_flows
    from server.inspections import campaigns as campaign_service
    from server.inspections import service as inspection_service

    rng = random.Random(SEED + 1)
    real_now = datetime.now(timezone.utc).replace(microsecond=0)
    start = real_now - timedelta(weeks=HISTORY_WEEKS)
    users = {u.username: u for u in db.session.scalars(select(User))}
    subjects = db.session.scalars(select(Subject).order_by(Subject.external_ref)).all()
    counts = {"inspections": 0, "hazards": 0, "photos": 0}
    try:
        database.set_now(start - timedelta(days=1))
        campaign = campaign_service.create(
            name="城镇燃气和自建房安全隐患排查整治专项行动（2026年秋季）", doc_no="银建发〔2026〕58号",
            domains=["gas", "self_built_house", "construction_site"], districts=["640100"],
            starts_on=start.date(), ends_on=(real_now + timedelta(weeks=6)).date(),
            phases=[{"name": "排查", "kind": "inspect", "starts_on": start.date().isoformat(),
                     "ends_on": (real_now + timedelta(weeks=6)).date().isoformat()}])
        db.session.commit()
        visited = rng.sample(subjects, HISTORY_VISITS)
        visits = sorted(((start + timedelta(seconds=rng.uniform(0, (real_now - start).total_seconds() - 3 * 3600)), s)
                         for s in visited), key=lambda v: v[0])
        followups = []  # (time, hazard id, plan of what happens next)
        for when, subject in visits:
            database.set_now(when + timedelta(minutes=25))
            inspector = users[INSPECTOR_OF[subject.district_code]]
            data = {"id": uuid.UUID(int=rng.getrandbits(128), version=4), "subject_id": subject.id,
                    "checklist": {"code": CHECKLIST_OF[subject.domain][0], "version": CHECKLIST_OF[subject.domain][1]},
                    "started_at": when, "finished_at": when + timedelta(minutes=20),
                    "location": {"lat": subject.lat + rng.uniform(-0.0002, 0.0002),
                                 "lon": subject.lon + rng.uniform(-0.0002, 0.0002),
                                 "accuracy_m": round(rng.uniform(4, 30), 1), "crs": "wgs84"},
                    "results": [], "hazards": [], "photos": [], "note": "入户检查" if subject.domain == "gas" else "现场检查",
                    "campaign_id": campaign.id}
            if rng.random() < 0.06:
                data.update(outcome="no_access", note="敲门无人应答")
            elif rng.random() < 0.55:
                for item, text, severity in rng.sample(HAZARD_KINDS[subject.domain], rng.choice([1, 1, 2])):
                    hazard_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                    fixed = severity is None and rng.random() < 0.15
                    data["hazards"].append({"id": hazard_id, "item": item, "description": text, "severity": severity,
                                            "fixed_on_spot": fixed})
                    data["results"].append({"item": item, "outcome": "fail", "note": text})
                    with_photo = counts["photos"] < HISTORY_PHOTOS * 2 // 3
                    if with_photo or fixed:
                        data["photos"].append({"id": uuid.UUID(int=rng.getrandbits(128), version=4),
                                               "sha256": "", "role": "before", "hazard_id": hazard_id, "_after": False})
                    if fixed:
                        data["photos"].append({"id": uuid.UUID(int=rng.getrandbits(128), version=4),
                                               "sha256": "", "role": "after", "hazard_id": hazard_id, "_after": True})
                    else:
                        followups.append((when, hazard_id, severity == "major", with_photo))
            images = {}
            for photo in data["photos"]:
                images[photo["id"]] = _jpeg(rng, photo.pop("_after"))
                photo["sha256"] = hashlib.sha256(images[photo["id"]]).hexdigest()
            inspection_service.submit(data=data, actor=inspector, districts=None)
            for photo_id, image in images.items():
                _store_photo(photo_id, image)
                counts["photos"] += 1
            counts["inspections"] += 1
            counts["hazards"] += len(data["hazards"])

        leader = users["leader"]
        for reported, hazard_id, major, with_photo in followups:
            age = (real_now - reported).days
            inspector_name = None
            fate = rng.random()
            if age < 3 or fate < 0.12:
                continue  # still reported (some of them past their deadline: overdue)
            t = reported + timedelta(hours=rng.uniform(4, 48))

            def step(flow, when, actor, **data):
                database.set_now(min(when, real_now - timedelta(minutes=5)))
                event, _created = flow(hazard_id=hazard_id, data={"id": uuid.uuid4(), **data}, actor=actor,
                                       districts=None)
                return event

            from server.hazards.models import Hazard

            hazard = db.session.get(Hazard, hazard_id)
            inspector_name = INSPECTOR_OF[hazard.district_code]
            actor = users[inspector_name]
            if major:
                step(hazard_flows.plan, t, leader, responsible="产权人及燃气经营企业", measures="立即停止使用，迁出地下室，更换合格设施",
                     funds_yuan=round(rng.uniform(2000, 50000), -2),
                     deadline=(reported + timedelta(days=30)).date(), contingency_plan="落实专人值守，发现泄漏立即关阀疏散")
            step(hazard_flows.notify, t + timedelta(hours=1), actor, note="下达整改通知书，限期整改")
            if fate < 0.35:
                continue  # rectifying
            t += timedelta(days=rng.uniform(2, 12) * (2 if major else 1))
            if t > real_now - timedelta(hours=2):
                continue
            after_id = uuid.uuid4()
            image = _jpeg(rng, True) if with_photo and counts["photos"] < HISTORY_PHOTOS else None
            photos = ([{"id": after_id, "sha256": hashlib.sha256(image).hexdigest(), "role": "after"}]
                      if image else [])
            step(hazard_flows.rectify, t, actor, note="已按要求整改完毕", photos=photos)
            if image:
                database.set_now(min(t + timedelta(minutes=2), real_now))
                _store_photo(after_id, image)
                counts["photos"] += 1
            if fate < 0.5:
                continue  # pending review
            t += timedelta(days=rng.uniform(0.5, 4))
            if t > real_now - timedelta(hours=1):
                continue
            reviewer = leader if major else actor
            step(hazard_flows.review, t, reviewer, decision="accept", note="复查合格，同意销号")
        db.session.commit()  # the whole history in one transaction: one durable write instead of hundreds
    finally:
        database.set_now(None)
    return counts
