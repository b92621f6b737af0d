//! The desk's service figures (`/desk/sla`): time to decision, the share
//! decided automatically, time until the refund arrived and dispute
//! resolution, per day of a date range (the last 30 days unless asked),
//! each drawn as an SVG chart with its numbers in a table beside it. The
//! figures are `app::sla::report`'s, the API's own
//! (`GET /v1/shops/{shop_id}/reports/sla`): the page only draws them.

use super::charts::{self, Chart, DurationUnits, Scale, Series};
use super::desk::{desk_nav, staff_shop};
use super::pages::layout;
use super::{Ctx, Form, WebState};
use crate::app::sla::SlaReport;
use crate::app::{self, AppError};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use maud::{html, Markup};

/// The range when none is asked for: the last 30 days, today included.
const DEFAULT_DAYS: i64 = 30;

/// The page's words.
struct SlaText {
    title: &'static str,
    from: &'static str,
    to: &'static str,
    show: &'static str,
    bad_date: &'static str,
    date: &'static str,
    numbers: &'static str,
    no_data: &'static str,
    decision: &'static str,
    decision_desc: &'static str,
    automatic: &'static str,
    automatic_desc: &'static str,
    refund: &'static str,
    refund_desc: &'static str,
    disputes: &'static str,
    disputes_desc: &'static str,
    submitted: &'static str,
    decided: &'static str,
    decided_automatically: &'static str,
    share: &'static str,
    refunded: &'static str,
    median: &'static str,
    p90: &'static str,
    seconds: &'static str,
    opened: &'static str,
    resolved: &'static str,
    withdrawn: &'static str,
    resolution_rate: &'static str,
    units: DurationUnits,
}

static ZH_CN: SlaText = SlaText {
    title: "服务时效",
    from: "开始日期",
    to: "结束日期",
    show: "查看",
    bad_date: "日期格式应为 YYYY-MM-DD。",
    date: "日期",
    numbers: "数据表",
    no_data: "这段时间没有数据",
    decision: "处理时长",
    decision_desc: "按提交日期,每天售后单从提交到首次处理(同意或拒绝)的时长:中位数与 90 分位。",
    automatic: "自动处理占比",
    automatic_desc: "按提交日期,每天已处理的售后单中由规则或系统自动处理的比例。",
    refund: "退款到账时长",
    refund_desc: "按提交日期,每天售后单从提交到退款全部到账的时长:中位数与 90 分位。",
    disputes: "争议解决",
    disputes_desc: "按发起日期,每天已解决的争议从发起到解决的时长中位数。",
    submitted: "提交",
    decided: "已处理",
    decided_automatically: "自动处理",
    share: "占比 (%)",
    refunded: "已到账",
    median: "中位数",
    p90: "90 分位",
    seconds: "秒",
    opened: "发起",
    resolved: "已解决",
    withdrawn: "已撤回",
    resolution_rate: "解决率 (%)",
    units: DurationUnits {
        seconds: "秒",
        minutes: "分钟",
        hours: "小时",
        days: "天",
    },
};

static EN: SlaText = SlaText {
    title: "Service levels",
    from: "From",
    to: "To",
    show: "Show",
    bad_date: "Dates are written YYYY-MM-DD.",
    date: "Date",
    numbers: "The numbers",
    no_data: "No figures in these days",
    decision: "Time to decision",
    decision_desc: "Per day of submission, how long claims waited for their first decision (approval or rejection): median and 90th percentile.",
    automatic: "Decided automatically",
    automatic_desc: "Per day of submission, the share of decided claims that a rule or the system decided.",
    refund: "Time to refund arrival",
    refund_desc: "Per day of submission, how long until all of a claim's refunds arrived: median and 90th percentile.",
    disputes: "Dispute resolution",
    disputes_desc: "Per day of opening, the median time from a dispute's opening to its settlement.",
    submitted: "Submitted",
    decided: "Decided",
    decided_automatically: "Automatically",
    share: "Share (%)",
    refunded: "Refunds arrived",
    median: "Median",
    p90: "90th percentile",
    seconds: "s",
    opened: "Opened",
    resolved: "Resolved",
    withdrawn: "Withdrawn",
    resolution_rate: "Resolution rate (%)",
    units: DurationUnits {
        seconds: "s",
        minutes: "min",
        hours: "h",
        days: "d",
    },
};

fn st(ctx: &Ctx) -> &'static SlaText {
    match ctx.lang {
        super::Lang::ZhCn => &ZH_CN,
        super::Lang::En => &EN,
    }
}

/// The range a query asks for: `from` and `to` as `YYYY-MM-DD`, each
/// defaulting to the last [`DEFAULT_DAYS`] days up to `today`. Its limits
/// (order, length) are the use case's to check, as for the API.
fn range_of(q: &Form, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), ()> {
    let date = |name: &str, default: NaiveDate| match q.get(name).trim() {
        "" => Ok(default),
        v => NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| ()),
    };
    let to = date("to", today)?;
    let from = date("from", to - Duration::days(DEFAULT_DAYS - 1))?;
    Ok((from, to))
}

/// A number of seconds or a percent as the tables write it (and as the
/// browser test reads it back): one decimal; a dash for none.
fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

fn percent(v: Option<f64>) -> String {
    cell(v.map(|s| s * 100.0))
}

pub(super) async fn page(State(state): State<WebState>, ctx: Ctx, uri: Uri) -> Response {
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let q = Form::parse(uri.query().unwrap_or("").as_bytes());
    let today = Utc::now().date_naive();
    let t = st(&ctx);
    let unprocessable = |from: &str, to: &str, why: &str| {
        ctx.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            markup(&ctx, &shop, from, to, None, Some(why)),
        )
    };
    let Ok((from, to)) = range_of(&q, today) else {
        return unprocessable(q.get("from"), q.get("to"), t.bad_date);
    };
    let (from_s, to_s) = (from.to_string(), to.to_string());
    match app::sla::report(&state.services, p, &shop, from, to).await {
        Ok(report) => ctx.ok(markup(&ctx, &shop, &from_s, &to_s, Some(&report), None)),
        Err(e @ AppError::Invalid { .. }) => unprocessable(&from_s, &to_s, &e.answer().1),
        Err(e) => ctx.error(&e),
    }
}

fn markup(
    ctx: &Ctx,
    shop: &str,
    from: &str,
    to: &str,
    report: Option<&SlaReport>,
    problem: Option<&str>,
) -> Markup {
    let t = st(ctx);
    layout(
        ctx,
        t.title,
        html! {
            h1 { (t.title) " · " (shop) }
            (desk_nav(ctx))
            @if let Some(why) = problem { div.alert role="alert" #sla-error { (why) } }
            form.card.range #sla-range method="get" action="/desk/sla" {
                div {
                    label for="from" { (t.from) }
                    input #from type="date" name="from" value=(from);
                }
                div {
                    label for="to" { (t.to) }
                    input #to type="date" name="to" value=(to);
                }
                button.secondary type="submit" { (t.show) }
            }
            @if let Some(r) = report { (figures(t, r)) }
        },
    )
}

/// One chart with its table of the same numbers (folded away: the chart
/// is the summary; the table is there for screen readers and exact values).
fn section(t: &SlaText, id: &str, title: &str, chart: Markup, table: Markup) -> Markup {
    html! {
        section.card.chart #(id) aria-labelledby={ (id) "-h" } {
            h2 id={ (id) "-h" } { (title) }
            (chart)
            details {
                summary { (t.numbers) }
                (table)
            }
        }
    }
}

fn draw<'a>(
    t: &SlaText,
    id: &'a str,
    title: &'a str,
    desc: &'a str,
    scale: Scale,
    days: &'a [NaiveDate],
    series: Vec<Series<'a>>,
) -> Markup {
    charts::svg(&Chart {
        id,
        title,
        desc,
        empty: t.no_data,
        scale,
        days,
        series,
    })
}

fn figures(t: &SlaText, r: &SlaReport) -> Markup {
    let days: Vec<NaiveDate> = r.days.iter().map(|d| d.date).collect();
    let dispute_days: Vec<NaiveDate> = r.disputes.iter().map(|d| d.date).collect();
    let duration = Scale::Duration(t.units);
    let s = |name, values| Series { name, values };
    let secs = |h: &str| format!("{h} ({})", t.seconds);
    html! {
        div.charts {
        (section(t, "sla-decision", t.decision,
            draw(t, "sla-decision-chart", t.decision, t.decision_desc, duration, &days, vec![
                s(t.median, r.days.iter().map(|d| d.seconds_to_decision_p50).collect()),
                s(t.p90, r.days.iter().map(|d| d.seconds_to_decision_p90).collect()),
            ]),
            html! {
                table #sla-decision-table {
                    thead { tr {
                        th scope="col" { (t.date) } th scope="col" { (t.submitted) } th scope="col" { (t.decided) }
                        th scope="col" { (secs(t.median)) } th scope="col" { (secs(t.p90)) }
                    } }
                    tbody { @for d in &r.days { tr data-date=(d.date) {
                        th scope="row" { (d.date) } td { (d.submitted) } td { (d.decided) }
                        td { (cell(d.seconds_to_decision_p50)) } td { (cell(d.seconds_to_decision_p90)) }
                    } } }
                }
            }))
        (section(t, "sla-automatic", t.automatic,
            draw(t, "sla-automatic-chart", t.automatic, t.automatic_desc, Scale::Share, &days, vec![
                s(t.share, r.days.iter().map(|d| d.automatic_share).collect()),
            ]),
            html! {
                table #sla-automatic-table {
                    thead { tr {
                        th scope="col" { (t.date) } th scope="col" { (t.decided) }
                        th scope="col" { (t.decided_automatically) } th scope="col" { (t.share) }
                    } }
                    tbody { @for d in &r.days { tr data-date=(d.date) {
                        th scope="row" { (d.date) } td { (d.decided) } td { (d.decided_automatically) }
                        td { (percent(d.automatic_share)) }
                    } } }
                }
            }))
        (section(t, "sla-refund", t.refund,
            draw(t, "sla-refund-chart", t.refund, t.refund_desc, duration, &days, vec![
                s(t.median, r.days.iter().map(|d| d.seconds_to_refund_p50).collect()),
                s(t.p90, r.days.iter().map(|d| d.seconds_to_refund_p90).collect()),
            ]),
            html! {
                table #sla-refund-table {
                    thead { tr {
                        th scope="col" { (t.date) } th scope="col" { (t.refunded) }
                        th scope="col" { (secs(t.median)) } th scope="col" { (secs(t.p90)) }
                    } }
                    tbody { @for d in &r.days { tr data-date=(d.date) {
                        th scope="row" { (d.date) } td { (d.refunded) }
                        td { (cell(d.seconds_to_refund_p50)) } td { (cell(d.seconds_to_refund_p90)) }
                    } } }
                }
            }))
        (section(t, "sla-disputes", t.disputes,
            draw(t, "sla-disputes-chart", t.disputes, t.disputes_desc, duration, &dispute_days, vec![
                s(t.median, r.disputes.iter().map(|d| d.median_seconds_to_resolution.map(|s| s as f64)).collect()),
            ]),
            html! {
                table #sla-disputes-table {
                    thead { tr {
                        th scope="col" { (t.date) } th scope="col" { (t.opened) } th scope="col" { (t.resolved) }
                        th scope="col" { (t.withdrawn) } th scope="col" { (t.resolution_rate) }
                        th scope="col" { (secs(t.median)) }
                    } }
                    tbody { @for d in &r.disputes { tr data-date=(d.date) {
                        th scope="row" { (d.date) } td { (d.opened) } td { (d.resolved) } td { (d.withdrawn) }
                        td { (percent(d.resolution_rate)) }
                        td { (cell(d.median_seconds_to_resolution.map(|s| s as f64))) }
                    } } }
                }
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_range_defaults_to_the_last_thirty_days() {
        let today = day("2026-12-07");
        let q = Form::parse(b"");
        assert_eq!(range_of(&q, today), Ok((day("2026-11-08"), today)));
        let q = Form::parse(b"to=2026-11-30");
        assert_eq!(
            range_of(&q, today),
            Ok((day("2026-11-01"), day("2026-11-30")))
        );
        let q = Form::parse(b"from=2026-12-01&to=2026-12-02");
        assert_eq!(
            range_of(&q, today),
            Ok((day("2026-12-01"), day("2026-12-02")))
        );
        assert_eq!(range_of(&Form::parse(b"from=yesterday"), today), Err(()));
    }

    #[test]
    fn cells_write_one_decimal_and_a_dash_for_nothing() {
        assert_eq!(cell(Some(2.345)), "2.3");
        assert_eq!(cell(None), "—");
        assert_eq!(percent(Some(2.0 / 3.0)), "66.7");
    }
}
