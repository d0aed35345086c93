"""FAQ import (CSV, XLSX, the command, the admin's upload form) and export: every row checked
first, errors by row number, all rows or none."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from kefu.kb.importer import ImportRefused, export_csv, import_faq
from kefu.kb.models import Article, ArticleGroup, Category

pytestmark = pytest.mark.django_db

GOOD = (
    "question,answer,alternatives,category,language,key\n"
    "如何申请退货,签收后 7 天内可以申请退货。,怎么退货|退货流程,退货与退款,zh-hans,r1\n"
    'How do I return an item?,"Within 7 days of delivery.",returns,Returns,en,r1\n'
    '退款多久到账？,<p>1–3 个<strong>工作日</strong><script>x()</script></p>,"退款什么时候到\n'
    '钱什么时候退回来",退货与退款,,\n'
)


def test_csv_import_creates_faq_entries():
    result = import_faq("faq.csv", GOOD.encode(), actor=None)
    assert (result.created, result.updated) == (3, 0)
    assert sorted(result.categories) == ["Returns", "退货与退款"]
    returns = Article.objects.get(title="如何申请退货")
    assert returns.kind == "faq" and returns.status == "published"
    assert returns.alternative_list == ["怎么退货", "退货流程"]
    assert returns.body_html == "<p>签收后 7 天内可以申请退货。</p>"
    english = Article.objects.get(language="en")
    assert english.group_id == returns.group_id  # same key: one article in two languages
    refund = Article.objects.get(title="退款多久到账？")
    assert refund.language == "zh-hans"  # empty language: the default
    assert "<script>" not in refund.body_html and "<strong>工作日</strong>" in refund.body_html
    assert refund.alternative_list == ["退款什么时候到", "钱什么时候退回来"]
    assert refund.versions.count() == 1


def test_importing_again_changes_nothing_twice():
    import_faq("faq.csv", GOOD.encode(), actor=None)
    again = import_faq("faq.csv", GOOD.encode(), actor=None)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert Article.objects.count() == 3
    changed = GOOD.replace("签收后 7 天内", "签收后 15 天内")
    third = import_faq("faq.csv", changed.encode(), actor=None)
    assert (third.created, third.updated) == (0, 1)
    assert Article.objects.get(title="如何申请退货").versions.count() == 2


def test_errors_are_reported_per_row_and_nothing_is_imported():
    bad = (
        "question,answer,alternatives,category,language\n"
        "好问题,好答案,,账户,zh-hans\n"
        ",没有问题,,账户,zh-hans\n"
        "没有答案,,,账户,zh-hans\n"
        "\n"
        "火星语,答案,,账户,mars\n"
        "好问题,重复了,,账户,zh-hans\n"
    )
    with pytest.raises(ImportRefused) as refused:
        import_faq("faq.csv", bad.encode(), actor=None)
    assert [(e.row, e.message) for e in refused.value.errors] == [
        (3, "the question is empty"),
        (4, "the answer is empty"),
        (6, "unknown language 'mars'"),
        (7, "the same question as row 2"),
    ]
    assert not Article.objects.exists() and not Category.objects.exists()
    assert not ArticleGroup.objects.exists()


def test_missing_columns_and_wrong_files():
    with pytest.raises(ImportRefused, match="missing column"):
        import_faq("faq.csv", b"title only\nx\n", actor=None)
    with pytest.raises(ImportRefused, match=r"csv or \.xlsx"):
        import_faq("faq.pdf", b"%PDF", actor=None)
    with pytest.raises(ImportRefused, match="XLSX"):
        import_faq("faq.xlsx", b"not a zip", actor=None)


def test_gb18030_csv_with_chinese_headers():
    text = "问题,答案,其他问法,分类,语言\n发票怎么开,在订单页申请,开发票,账户,简体\n"
    import_faq("faq.csv", text.encode("gb18030"), actor=None)
    article = Article.objects.get()
    assert (article.title, article.language, article.group.category.name) == (
        "发票怎么开",
        "zh-hans",
        "账户",
    )


def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_import():
    content = _xlsx(
        [
            ["Question", "Answer", "Alternatives", "Category", "Language"],
            ["保修多久？", "一年保修。", "保修期\n三包", "保修与维修", "zh-hans"],
            ["保修多久？", "一年保固。", None, "保修与维修", "zh-hant"],
            [None, None, None, None, None],
        ]
    )
    result = import_faq("faq.xlsx", content, actor=None, publish=False)
    assert result.created == 2
    assert set(Article.objects.values_list("status", flat=True)) == {"draft"}
    assert Category.objects.get().name == "保修与维修"


def test_command_import_and_export(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text(GOOD, encoding="utf-8")
    out = io.StringIO()
    call_command("kb", "import", str(path), stdout=out)
    assert "imported 3 new" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\n,x\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("kb", "import", str(bad), stderr=err)
    assert "row 2: the question is empty" in err.getvalue()
    exported = io.StringIO()
    call_command("kb", "export", stdout=exported)
    assert "如何申请退货" in exported.getvalue()
    # the export reads back in: nothing changes
    result = import_faq("again.csv", export_csv().encode(), actor=None)
    assert (result.created, result.updated) == (0, 0)


def test_admin_upload_form(admin_user):
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/kb/article/").status_code == 200
    assert client.get("/admin/kb/article/import/").status_code == 200
    bad = io.BytesIO("question,answer\n好问题,\n".encode())
    bad.name = "faq.csv"
    page = client.post("/admin/kb/article/import/", {"file": bad, "publish": "on"})
    assert page.status_code == 200
    assert "the answer is empty" in page.content.decode()
    assert not Article.objects.exists()
    good = io.BytesIO(GOOD.encode())
    good.name = "faq.csv"
    response = client.post("/admin/kb/article/import/", {"file": good, "publish": "on"})
    assert response.status_code == 302
    assert Article.objects.count() == 3
    export = client.get("/admin/kb/article/export/")
    assert export["Content-Type"].startswith("text/csv")
    assert "如何申请退货" in export.content.decode("utf-8-sig")


def test_admin_pages_are_for_staff(agent_x):
    client = Client()
    client.force_login(agent_x)
    assert client.get("/admin/kb/article/import/").status_code == 302
