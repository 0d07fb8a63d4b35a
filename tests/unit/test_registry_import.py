"""Importing the register (底数) from CSV and XLSX files."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from server import clock
from server.extensions import db
from server.geo import crs
from server.registry import credit_code, importer
from server.registry.importer import RowError
from server.registry.models import Enterprise, Subject

HEADER = [
    "external_ref", "domain", "name", "address", "district_code", "lat", "lon", "crs",
    "enterprise_credit_code", "enterprise_name", "enterprise_kind",
    "user_type", "gas_source", "account_no", "is_catering",
    "owner", "floors_above", "floors_below", "building_area_m2", "built_year", "structure_type",
    "is_operating", "operating_type", "appraisal_grade",
    "project_name", "permit_no", "contractor_credit_code", "contractor_name", "supervisor_credit_code",
    "supervisor_name", "developer_credit_code", "developer_name", "floor_area_m2", "dangerous_works",
]


def code(body: str, division: str = "640104") -> str:
    """Return a valid credit code for a 9-character organisation identifier."""
    first17 = f"91{division}{body}"
    return first17 + credit_code.check_char(first17)


GAS_CO = code("MA76X1K2Q")
CONTRACTOR = code("MA7ABCD01")
SUPERVISOR = code("MA7ABCD02")
DEVELOPER = code("MA7ABCD03")


def gas(ref="GAS-640104-000001", **extra) -> dict:
    """A good gas user row."""
    row = dict(external_ref=ref, domain="gas", name="马建国", address="兴庆区解放东街128号丽景花园3栋2单元502室",
               district_code="640104", lat="38.4712", lon="106.2875", crs="",
               enterprise_credit_code=GAS_CO, enterprise_name="银川凤鸣燃气有限公司", enterprise_kind="gas_operator",
               user_type="居民管道", gas_source="天然气", account_no="9054925374", is_catering="否")
    row.update(extra)
    return row


def house(ref="ZJF-640106-0001", **extra) -> dict:
    """A good self-built house row."""
    row = dict(external_ref=ref, domain="self_built_house", name="润丰村王德福自建房",
               address="金凤区丰登镇润丰村3组15号", district_code="640106", lat="38.4601", lon="106.2215",
               owner="王德福", floors_above="3", floors_below="0", building_area_m2="426.5", built_year="2008",
               structure_type="砖混/砌体", is_operating="是", operating_type="餐饮", appraisal_grade="c")
    row.update(extra)
    return row


def site(ref="GD-640105-001", **extra) -> dict:
    """A good construction site row."""
    row = dict(external_ref=ref, domain="construction_site", name="文萃苑二期住宅楼",
               address="西夏区文萃南街与朔方路交叉口东北侧", district_code="640105", lat="38.4902", lon="106.1488",
               crs="wgs84", enterprise_credit_code=CONTRACTOR, enterprise_name="宁夏鼎晟建设工程有限公司",
               enterprise_kind="contractor", project_name="文萃苑二期住宅楼", permit_no="640105202403150101",
               contractor_credit_code=CONTRACTOR, contractor_name="宁夏鼎晟建设工程有限公司",
               supervisor_credit_code=SUPERVISOR, supervisor_name="宁夏正信工程监理有限公司",
               developer_credit_code=DEVELOPER, developer_name="银川阅海置业有限公司",
               floor_area_m2="56000", dangerous_works="基坑;脚手架；起重吊装")
    row.update(extra)
    return row


def write_csv(path, rows, *, encoding="utf-8", header=HEADER):
    """Write rows (dicts, or None for a blank line) under the header."""
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([] if row is None else [row.get(column, "") for column in header])
    return path


def subject(ref: str) -> Subject | None:
    """Return the stored subject with this external_ref."""
    return db.session.scalar(select(Subject).where(Subject.external_ref == ref))


def count(model) -> int:
    """Return the number of rows of a table."""
    return db.session.scalar(select(func.count()).select_from(model))


def enterprise(credit: str) -> Enterprise | None:
    """Return the stored enterprise with this credit code."""
    return db.session.scalar(select(Enterprise).where(Enterprise.credit_code == credit))


def test_good_rows_of_each_domain_are_stored(app, tmp_path):
    """Good gas, house and site rows become subjects with typed attributes and linked enterprises."""
    path = write_csv(tmp_path / "good.csv", [gas(), house(), site()])
    with app.app_context():
        report = importer.import_file(path)
        assert (report.created, report.updated, report.unchanged, report.errors) == (3, 0, 0, [])
        assert report.summary() == ("3 rows: 3 created, 0 updated, 0 unchanged, 0 errors "
                                    "(enterprises: 4 created, 0 updated)")

        g = subject("GAS-640104-000001")
        assert (g.domain, g.name, g.district_code, g.lat, g.lon, g.source_crs) == (
            "gas", "马建国", "640104", 38.4712, 106.2875, "wgs84")
        assert g.attributes == {"user_type": "居民管道", "gas_source": "天然气", "account_no": "9054925374",
                                "is_catering": False}
        assert g.enterprise_ids == [enterprise(GAS_CO).id]
        assert enterprise(GAS_CO).kind == "gas_operator"

        h = subject("ZJF-640106-0001")
        assert h.attributes == {"owner": "王德福", "floors_above": 3, "floors_below": 0, "building_area_m2": 426.5,
                                "built_year": 2008, "structure_type": "砖混/砌体", "is_operating": True,
                                "operating_type": "餐饮", "appraisal_grade": "C"}
        assert h.enterprise_ids == []

        s = subject("GD-640105-001")
        assert s.attributes["dangerous_works"] == ["基坑", "脚手架", "起重吊装"]
        assert s.attributes["floor_area_m2"] == 56000.0
        kinds = {enterprise(c).kind: enterprise(c).id for c in (CONTRACTOR, SUPERVISOR, DEVELOPER)}
        assert kinds.keys() == {"contractor", "supervisor", "developer"}
        assert set(s.enterprise_ids) == set(kinds.values())


def test_bad_rows_are_reported_with_row_numbers_and_columns(app, tmp_path):
    """Each bad row is reported with its spreadsheet row number and the column at fault; good rows are kept."""
    bad_check = GAS_CO[:17] + ("0" if GAS_CO[17] != "0" else "1")
    rows = [
        gas("G-1"),                                           # row 2: good
        gas("G-2", domain="water"),                           # row 3
        gas("G-3", district_code="110101"),                   # row 4
        None,                                                 # row 5: blank line, skipped
        gas("G-4", lat="95"),                                 # row 6
        gas("G-5", enterprise_credit_code=bad_check),         # row 7
        gas("G-6", enterprise_kind="bank"),                   # row 8
        gas("G-7", name=""),                                  # row 9
        gas("G-8", crs="utm"),                                # row 10
        house("H-1", floors_above="99"),                      # row 11
        gas("G-1", name="王秀英"),                              # row 12: duplicate of row 2
        house("H-2"),                                         # row 13: good
        site("S-1", supervisor_name=""),                      # row 14
        gas("G-9", owner="王德福"),                              # row 15: a house column on a gas row
        house("H-3", built_year="1899", structure_type="茅草"),  # row 16: two problems
        gas("G-10", district_code="640100"),                  # row 17: a city, not a county
    ]
    path = write_csv(tmp_path / "mixed.csv", rows)
    with app.app_context():
        report = importer.import_file(path)
        assert report.errors == [
            RowError(3, "domain: must be one of gas, self_built_house, construction_site; got 'water'"),
            RowError(4, "district_code: unknown district code '110101'"),
            RowError(6, "lat: 95 is outside -90..90"),
            RowError(7, "enterprise_credit_code: not a valid unified social credit code (wrong check character "
                        f"{bad_check[17]!r}, expected {GAS_CO[17]!r}); got {bad_check!r}"),
            RowError(8, "enterprise_kind: must be one of gas_operator, contractor, developer, supervisor, "
                        "property_manager, other; got 'bank'"),
            RowError(9, "name: required"),
            RowError(10, "crs: must be one of wgs84, gcj02, bd09 (empty means wgs84); got 'utm'"),
            RowError(11, "floors_above: must be between 1 and 60; got 99"),
            RowError(12, "external_ref: duplicate of row 2"),
            RowError(14, "supervisor_name: required when supervisor_credit_code is given"),
            RowError(15, "owner: belongs to self_built_house, not gas; leave it empty"),
            RowError(16, f"built_year: must be between 1900 and {clock.today().year}; got 1899; "
                         "structure_type: must be one of 砖混/砌体, 砖木, 土木, 钢筋混凝土框架, 钢结构, 其他; got '茅草'"),
            RowError(17, "district_code: 640100 is 银川市, a prefecture; give the county-level district"),
        ]
        assert (report.rows, report.created) == (15, 2)
        assert report.summary().startswith("15 rows: 2 created, 0 updated, 0 unchanged, 13 errors")
        assert subject("G-1").name == "马建国"  # the duplicate did not overwrite the first row
        assert subject("H-2") is not None
        assert count(Subject) == 2


def test_gcj02_and_bd09_input_is_stored_as_wgs84(app, tmp_path):
    """A GCJ-02 or BD-09 position is converted to WGS-84 and its source system remembered."""
    path = write_csv(tmp_path / "crs.csv", [gas("G-GCJ", crs="GCJ02", lat="38.4712", lon="106.2875"),
                                            gas("G-BD", crs="bd09", lat="38.4712", lon="106.2875")])
    with app.app_context():
        assert importer.import_file(path).created == 2
        stored = subject("G-GCJ")
        assert (stored.lat, stored.lon) == pytest.approx(crs.gcj02_to_wgs84(38.4712, 106.2875), abs=1e-9)
        assert stored.source_crs == "gcj02"
        assert crs.distance_m((stored.lat, stored.lon), (38.4712, 106.2875)) > 100  # it really moved
        bd = subject("G-BD")
        assert (bd.lat, bd.lon) == pytest.approx(crs.to_wgs84(38.4712, 106.2875, "bd09"), abs=1e-9)
        assert bd.source_crs == "bd09"


def test_reimport_is_idempotent(app, tmp_path):
    """Importing the same file twice changes nothing the second time and reports every row unchanged."""
    path = write_csv(tmp_path / "twice.csv", [gas(), gas("G-GCJ", crs="gcj02"), house(), site()])
    with app.app_context():
        first = importer.import_file(path)
        stamps = {s.external_ref: s.updated_at for s in db.session.scalars(select(Subject))}
        second = importer.import_file(path)
        assert (first.created, second.created, second.updated, second.unchanged) == (4, 0, 0, 4)
        assert (second.enterprises_created, second.enterprises_updated) == (0, 0)
        assert second.summary() == "4 rows: 0 created, 0 updated, 4 unchanged, 0 errors"
        assert count(Subject) == 4 and count(Enterprise) == 4
        assert {s.external_ref: s.updated_at for s in db.session.scalars(select(Subject))} == stamps


def test_changed_row_updates_subject_and_links(app, tmp_path):
    """A changed row updates its subject, renames enterprises by credit code and replaces the links."""
    with app.app_context():
        importer.import_file(write_csv(tmp_path / "v1.csv", [gas(), site()]))
        other = code("MA7ABCD09")
        changed = [gas(name="马建国（已过户）", enterprise_name="银川凤鸣燃气集团有限公司"),
                   site(developer_credit_code="", developer_name="", contractor_credit_code=other,
                        contractor_name="宁夏新瑞建设工程有限公司", enterprise_credit_code=other,
                        enterprise_name="宁夏新瑞建设工程有限公司", floor_area_m2="60000")]
        report = importer.import_file(write_csv(tmp_path / "v2.csv", changed))
        assert (report.created, report.updated, report.unchanged, report.errors) == (0, 2, 0, [])
        assert (report.enterprises_created, report.enterprises_updated) == (1, 1)
        assert subject("GAS-640104-000001").name == "马建国（已过户）"
        assert enterprise(GAS_CO).name == "银川凤鸣燃气集团有限公司"
        s = subject("GD-640105-001")
        assert set(s.enterprise_ids) == {enterprise(other).id, enterprise(SUPERVISOR).id}
        assert s.attributes["floor_area_m2"] == 60000.0 and "developer_credit_code" not in s.attributes
        assert enterprise(DEVELOPER) is not None  # unlinked, not deleted


def test_one_file_gives_an_enterprise_one_name_and_kind(app, tmp_path):
    """A later row naming an enterprise differently, or giving it another kind, is refused with the earlier row."""
    rows = [gas("G-1"), gas("G-2", enterprise_name="凤鸣燃气"), gas("G-3", enterprise_kind="other"),
            site("S-1", enterprise_name="宁夏鼎晟建设"), site("S-2", contractor_name="鼎晟")]
    with app.app_context():
        report = importer.import_file(write_csv(tmp_path / "names.csv", rows))
        assert report.errors == [
            RowError(3, f"enterprise_name: {GAS_CO} is called '银川凤鸣燃气有限公司' in row 2; "
                        "one file must give an enterprise one name"),
            RowError(4, f"enterprise_kind: {GAS_CO} is a gas_operator in row 2; "
                        "one file must give an enterprise one kind"),
            RowError(5, f"contractor_name: {CONTRACTOR} is called '宁夏鼎晟建设' in enterprise_name"),
            RowError(6, f"contractor_name: {CONTRACTOR} is called '宁夏鼎晟建设工程有限公司' in enterprise_name"),
        ]


def test_a_role_on_a_site_does_not_change_an_enterprise_kind(app, tmp_path):
    """A contractor that is the developer of another site keeps its kind, and re-importing changes nothing."""
    rows = [site("S-1"), site("S-2", developer_credit_code=CONTRACTOR, developer_name="宁夏鼎晟建设工程有限公司")]
    path = write_csv(tmp_path / "roles.csv", rows)
    with app.app_context():
        assert (importer.import_file(path).created, enterprise(CONTRACTOR).kind) == (2, "contractor")
        assert set(subject("S-2").enterprise_ids) == {enterprise(CONTRACTOR).id, enterprise(SUPERVISOR).id}
        assert importer.import_file(path).unchanged == 2


def test_domain_of_a_subject_cannot_change(app, tmp_path):
    """A re-import that gives an existing external_ref another domain is refused."""
    with app.app_context():
        importer.import_file(write_csv(tmp_path / "a.csv", [gas("X-1")]))
        report = importer.import_file(write_csv(tmp_path / "b.csv", [house("X-1")]))
        assert report.errors == [RowError(2, "domain: external_ref X-1 is already a gas subject; "
                                             "a subject's domain cannot change")]
        assert subject("X-1").domain == "gas"


def test_xlsx_import_stores_the_same_as_csv(app, tmp_path):
    """An XLSX with typed cells imports the same subjects as the CSV: the CSV afterwards finds them unchanged."""
    rows = [gas(), gas("G-GCJ", crs="gcj02"), house(), site(), gas("G-BAD", lat="95")]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    typed = {"lat": float, "lon": float, "district_code": int, "floors_above": int, "floors_below": int,
             "built_year": int, "building_area_m2": float, "floor_area_m2": int}
    for row in rows:
        cells = []
        for column in HEADER:
            value = row.get(column, "")
            if value and column in typed:
                value = typed[column](value)
            elif value in ("是", "否") and column.startswith("is_"):
                value = value == "是"
            cells.append(None if value == "" else value)
        sheet.append(cells)
    book.save(tmp_path / "rows.xlsx")
    with app.app_context():
        report = importer.import_file(tmp_path / "rows.xlsx")
        assert (report.created, report.errors) == (4, [RowError(6, "lat: 95 is outside -90..90")]), report
        assert subject("ZJF-640106-0001").attributes["is_operating"] is True
        again = importer.import_file(write_csv(tmp_path / "rows.csv", rows))
        assert (again.created, again.updated, again.unchanged) == (0, 0, 4)


def test_gb18030_csv_from_excel_is_read(app, tmp_path):
    """A CSV saved by Excel on Chinese Windows (GB18030) imports with its Chinese text intact."""
    path = write_csv(tmp_path / "gbk.csv", [gas(), house()], encoding="gb18030")
    assert "马建国".encode("gb18030") in path.read_bytes()
    with app.app_context():
        report = importer.import_file(path)
        assert (report.created, report.errors) == (2, [])
        assert subject("GAS-640104-000001").address == "兴庆区解放东街128号丽景花园3栋2单元502室"
        assert subject("ZJF-640106-0001").attributes["structure_type"] == "砖混/砌体"


def test_bom_csv_is_read(app, tmp_path):
    """A UTF-8 CSV with a byte order mark imports; the BOM does not spoil the first column name."""
    path = write_csv(tmp_path / "bom.csv", [gas()], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with app.app_context():
        report = importer.import_file(path)
        assert (report.created, report.errors, report.warnings) == (1, [], [])
        assert subject("GAS-640104-000001").name == "马建国"


def test_unknown_columns_are_one_warning(app, tmp_path):
    """Unknown columns are ignored with one warning in the summary, not an error per row."""
    header = [*HEADER, "联系电话", "remark"]
    rows = [dict(gas("G-1"), 联系电话="13900000000", remark="x"), dict(gas("G-2"), remark="y")]
    with app.app_context():
        report = importer.import_file(write_csv(tmp_path / "extra.csv", rows, header=header))
        assert (report.created, report.errors) == (2, [])
        assert report.warnings == ["unknown columns ignored: 联系电话, remark"]
        assert report.summary().endswith("; warning: unknown columns ignored: 联系电话, remark")


def test_missing_columns_are_reported_against_the_header(app, tmp_path):
    """A header without required columns is one error on row 1 and nothing is imported."""
    header = [c for c in HEADER if c not in ("lat", "lon")]
    with app.app_context():
        report = importer.import_file(write_csv(tmp_path / "nolatlon.csv", [gas()], header=header))
        assert report.errors == [RowError(1, "missing columns: lat, lon (the first row must name the columns)")]
        assert report.imported == 0 and count(Subject) == 0


def test_database_failure_undoes_only_that_row(app, tmp_path, monkeypatch):
    """A database error while writing one row rolls back that row (and its new enterprise) only."""
    real = importer._Writer._upsert
    doomed = code("MA7DEAD99")

    def upsert(self, row, existing):
        outcome = real(self, row, existing)
        if row.external_ref == "G-BOOM":
            db.session.flush()
            raise OperationalError("INSERT ...", {}, Exception("disk I/O error"))
        return outcome

    monkeypatch.setattr(importer._Writer, "_upsert", upsert)
    rows = [gas("G-1"), gas("G-BOOM", enterprise_credit_code=doomed, enterprise_name="某燃气公司"), gas("G-3")]
    with app.app_context():
        report = importer.import_file(write_csv(tmp_path / "boom.csv", rows))
        assert report.errors == [RowError(3, "the database refused the row: disk I/O error")]
        assert (report.created, report.enterprises_created) == (2, 1)
        assert subject("G-1") and subject("G-3") and subject("G-BOOM") is None
        assert enterprise(doomed) is None and enterprise(GAS_CO) is not None


def test_three_thousand_rows_import_completely_and_again_unchanged(app, tmp_path, capsys):
    """A file of 3,000 rows imports completely, in batches, with a progress bar; importing it again changes nothing.

    (Its speed is measured by benchmarks, not asserted here: see docs/benchmarks.md.)
    """
    rows = []
    for i in range(3000):
        district = ("640104", "640105", "640106")[i % 3]
        rows.append(gas(f"GAS-{district}-{i:06d}", district_code=district, lat=f"{38.40 + i * 1e-5:.6f}",
                        crs=("", "gcj02")[i % 2], account_no=str(10**9 + i)))
    path = write_csv(tmp_path / "big.csv", rows)
    with app.app_context():
        report = importer.import_file(path, progress=True)
        assert (report.rows, report.created, report.errors) == (3000, 3000, [])
        assert report.summary().startswith("3,000 rows: 3,000 created")
        assert count(Subject) == 3000
        again = importer.import_file(path)
        assert again.unchanged == 3000
    assert "3000/3000" in capsys.readouterr().err  # the progress bar ran to the end


def test_cli_prints_summary_and_row_errors(app, tmp_path):
    """`registry import FILE` prints the summary on stdout and one line per bad row on stderr."""
    path = write_csv(tmp_path / "cli.csv", [gas(), gas("G-2", lat="95"), house()])
    result = app.test_cli_runner().invoke(args=["registry", "import", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ("3 rows: 2 created, 0 updated, 0 unchanged, 1 error "
                                     "(enterprises: 1 created, 0 updated)")
    assert result.stderr.strip() == "row 3: lat: 95 is outside -90..90"
    with app.app_context():
        assert count(Subject) == 2


def test_cli_fails_when_nothing_is_imported(app, tmp_path):
    """`registry import` exits non-zero when every row is bad."""
    path = write_csv(tmp_path / "allbad.csv", [gas(domain="water")])
    result = app.test_cli_runner().invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert "row 2: domain: must be one of" in result.stderr
