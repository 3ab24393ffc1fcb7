"""The year at a glance over HTTP, on the demo's year: the cycle's stages, the indicators against their
targets, the findings by status, what is due next, and the year's documents, viewed and downloaded."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient
from test_web import sign_in

import web


@pytest.fixture
def client(demo_year):
    with TestClient(web.create_app(demo_year)) as client:
        sign_in(client, "qmd1", "demo-qmd1-2027")
        yield client


def test_the_year_follows_the_databases_clock(client):
    assert client.get("/year", follow_redirects=False).headers["location"] == "/year/2028"  # simulated to 2028


def test_the_2027_cycle_at_a_glance(client):
    page = client.get("/year/2027", headers={"accept-language": "en"})
    assert page.status_code == 200
    stages = re.findall(r'<li class="stage stage-(\w+)">\s*<span class="title">([^<]+)</span>', page.text)
    assert stages == [("done", "Quality plan"), ("done", "Internal audit"), ("done", "Service inspections"),
                      ("done", "Satisfaction survey"), ("done", "Management review"), ("done", "Improvement plan")]
    assert "IA-2027-01" in page.text and "CS-2027" in page.text and "score 4.25" in page.text
    misses = re.findall(r'<li class="row overdue">\s*<span class="title">(K\d) ', page.text)
    assert misses == ["K1", "K4"]  # the indicators that missed their targets
    assert page.text.count("<meter") >= 5 + 2  # five indicators, two finding statuses
    assert "4 findings were closed late." in page.text


def test_the_years_documents_are_shown_and_downloaded(client):
    page = client.get("/year/2027")
    names = re.findall(r'href="/year/2027/documents/([\w-]+)"', page.text)
    assert "management-review-report-2027" in names and "improvement-plan-2027" in names
    report = client.get("/year/2027/documents/management-review-report-2027")
    assert report.status_code == 200 and "管理评审报告" in report.text
    assert 'src="data:image/svg+xml;base64,' in report.text  # its charts, without inline markup
    markdown = client.get("/year/2027/documents/management-review-report-2027", params={"format": "md"})
    assert markdown.headers["content-disposition"] == 'attachment; filename="management-review-report-2027.md"'
    assert markdown.content.decode("utf-8").startswith("# ")
    word = client.get("/year/2027/documents/management-review-report-2027", params={"format": "docx"})
    assert word.headers["content-disposition"] == 'attachment; filename="management-review-report-2027.docx"'
    assert word.content[:2] == b"PK"  # a zip: the Word file
    assert "quality-plan-2027" in names  # the plan is a document of its year too
    assert client.get("/year/2027/documents/no-such").status_code == 400
    assert client.get("/year/27").status_code == 400
