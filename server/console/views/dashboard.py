"""The dashboard: progress to zero by field and district, age, overdue, supervision, coverage, weekly trend."""

from __future__ import annotations

from flask import current_app, redirect, render_template, url_for

from server.console import auth, bp, figures
from server.console.views.common import arg, district_filter, offered_districts
from server.reports.zero import AGE_BUCKETS


@bp.route("/")
def index():
    """Send the console's root to the dashboard."""
    return redirect(url_for("console.dashboard"))


@bp.route("/dashboard")
def dashboard():
    """Show the figures of the signed-in user's districts (or the filter's district and field)."""
    district = district_filter()
    domain = arg("domain", figures.DOMAINS)
    data = figures.dashboard(user_id=auth.current_user().id, visible=auth.visible(), district=district,
                             domain=domain, weeks=figures.trend_weeks(),
                             max_age_minutes=float(current_app.config.get("CONSOLE_DASHBOARD_MAX_AGE_MINUTES", 30)))
    chart = {
        "age": {"labels": [row["age"] for row in data.by_age], "values": [row["open"] for row in data.by_age]},
        "trend": {"labels": [row["week_start"].strftime("%m-%d") for row in data.trend],
                  "reported": [row["reported"] for row in data.trend],
                  "closed": [row["closed"] for row in data.trend],
                  "open": [row["open"] for row in data.trend]},
    }
    domains = [d for d in figures.DOMAINS if domain is None or d == domain]
    return render_template("console/dashboard.html", data=data, chart=chart, domains=domains,
                           districts=offered_districts(), district=district, domain=domain,
                           age_labels=[label for _, _, label in AGE_BUCKETS], refresh_minutes=figures.REFRESH_MINUTES)
