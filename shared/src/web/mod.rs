//! Pages people use: server-rendered HTML for customers, served from the
//! service itself (no scripts, no CDN, no build step), in zh-CN and en.
//!
//! - Every page calls the same use cases as the API (`app::*`), with the
//!   same [`Principal`], so it obeys the same tenancy: someone else's claim
//!   or order is "not found" here as it is there.
//! - Who is signed in: on one machine, the development token in the
//!   `as_session` cookie (HttpOnly, SameSite=Strict), minted by the
//!   sign-in page ([`WebState::dev_sign_in`]); on AWS (the web function,
//!   whose routes have no authorizer: browsers send cookies), the issuer's
//!   own token in that cookie, verified against its keys
//!   ([`AuthMode::Issuer`]).
//! - Every form carries the `as_csrf` cookie's random value in a hidden
//!   field; a POST whose field does not match the cookie is refused before
//!   anything else is read.
//! - Everything shown is escaped by the templates (maud); the pages send a
//!   Content-Security-Policy that allows no script at all.
//! - The language: `?lang=en|zh-CN` (kept in the `lang` cookie), else the
//!   cookie, else `Accept-Language`, else zh-CN.

mod charts;
mod claim_dispute;
mod claim_return;
mod desk;
mod disputes;
mod i18n;
mod pages;
mod refunds;
mod sla;

pub use i18n::Lang;

use crate::app::{self, AppError, Services};
use crate::auth::{AuthMode, GatewayClaims, Principal, StaffRole};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;

/// The cookie holding the development token.
pub const SESSION_COOKIE: &str = "as_session";
/// The cookie holding the anti-forgery value every form echoes.
pub const CSRF_COOKIE: &str = "as_csrf";
/// The cookie holding the chosen language.
pub const LANG_COOKIE: &str = "lang";
/// The form field carrying the anti-forgery value.
pub const CSRF_FIELD: &str = "csrf";
/// How long a development sign-in lasts (the token's and cookie's life).
const SESSION_SECONDS: i64 = 24 * 3600;
/// Form bodies larger than this are refused: as large as the API's bodies
/// (a batch confirmation names up to a thousand claims, a rule set is
/// edited whole on the rules page).
const MAX_FORM_BYTES: usize = 256 * 1024;
/// The claim form with its photos at most (each photo is checked against
/// the shop's own limits as it is stored).
const MAX_CLAIM_FORM_BYTES: usize = 32 * 1024 * 1024;

/// What the pages need.
#[derive(Clone)]
pub struct WebState {
    pub services: Services,
    pub auth: AuthMode,
    /// Offer the development sign-in page (the runner only: it mints tokens
    /// for anyone, so it needs token mode too).
    pub dev_sign_in: bool,
}

/// The pages' router, to be merged beside the API's (`/` and the page
/// paths; nothing under `/v1`).
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/orders", get(open_order))
        .route("/orders/{shop_id}/{order_id}", get(order_page))
        // Opened directly (a language switch, a reload): the order's page.
        .route(
            "/orders/{shop_id}/{order_id}/quote",
            post(quote)
                .get(back_to_order)
                .layer(DefaultBodyLimit::max(MAX_CLAIM_FORM_BYTES)),
        )
        .route(
            "/orders/{shop_id}/{order_id}/claims",
            post(submit).get(back_to_order),
        )
        .route("/claims/{claim_id}", get(claim_page))
        .route("/claims/{claim_id}/photos/{n}", get(claim_photo))
        .route("/inbox", get(inbox_page))
        .route("/inbox/{message_id}/read", post(mark_read))
        .route("/assets/app.css", get(stylesheet))
        .route("/favicon.ico", get(icon))
        .merge(claim_dispute::routes())
        .merge(claim_return::routes())
        .merge(desk::routes())
        .with_state(state)
}

// ------------------------------------------------------------ request context

/// What every page knows of its request: language, anti-forgery value,
/// who is signed in.
pub(crate) struct Ctx {
    pub lang: Lang,
    pub csrf: String,
    /// The anti-forgery cookie was not there: set it with the answer.
    new_csrf: bool,
    /// `?lang=` chose the language: remember it.
    set_lang: bool,
    pub who: Option<Principal>,
    pub dev_sign_in: bool,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A fresh anti-forgery value: 128 random bits.
fn new_csrf() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether the anti-forgery value looks like one we made (so that a
/// cookie set by someone else cannot smuggle anything into the pages).
fn well_formed_csrf(v: &str) -> bool {
    v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

fn principal(parts: &Parts, auth: &AuthMode) -> Option<Principal> {
    match auth {
        AuthMode::Hs256(keys) => {
            let token = cookie(&parts.headers, SESSION_COOKIE)?;
            keys.verify(Some(&format!("Bearer {token}"))).ok()
        }
        // Behind API Gateway with no authorizer on the page routes: the
        // session cookie holds the issuer's own token.
        AuthMode::Issuer(keys) => keys.verify(cookie(&parts.headers, SESSION_COOKIE)?).ok(),
        AuthMode::Gateway => parts
            .extensions
            .get::<GatewayClaims>()
            .and_then(|c| Principal::from_claims(&c.0).ok()),
    }
}

impl FromRequestParts<WebState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Self, Self::Rejection> {
        let asked = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| Lang::parse(&v))
        });
        let lang = asked
            .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse))
            .or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::ZhCn);
        let existing = cookie(&parts.headers, CSRF_COOKIE).filter(|v| well_formed_csrf(v));
        Ok(Ctx {
            lang,
            csrf: existing.map_or_else(new_csrf, str::to_owned),
            new_csrf: existing.is_none(),
            set_lang: asked.is_some(),
            who: principal(parts, &st.auth),
            dev_sign_in: st.dev_sign_in && matches!(st.auth, AuthMode::Hs256(_)),
        })
    }
}

fn set_cookie(headers: &mut HeaderMap, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.append(header::SET_COOKIE, v);
    }
}

impl Ctx {
    pub fn t(&self) -> &'static i18n::Text {
        self.lang.t()
    }

    /// The cookies this answer must set, and the headers every page has.
    fn finish(&self, mut r: Response) -> Response {
        let h = r.headers_mut();
        if self.new_csrf {
            set_cookie(
                h,
                format!(
                    "{CSRF_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                    self.csrf
                ),
            );
        }
        if self.set_lang {
            set_cookie(
                h,
                format!(
                    "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                    self.lang.code()
                ),
            );
        }
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                 base-uri 'none'; frame-ancestors 'none'",
            ),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    /// A page.
    fn page(&self, status: StatusCode, markup: Markup) -> Response {
        self.finish(
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                markup.into_string(),
            )
                .into_response(),
        )
    }

    fn ok(&self, markup: Markup) -> Response {
        self.page(StatusCode::OK, markup)
    }

    /// 303 to `to` (after a form, or to sign in).
    fn redirect(&self, to: &str) -> Response {
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        self.finish(r)
    }

    /// The error page for a use case's refusal: someone else's things are
    /// "not found", as in the API.
    fn error(&self, e: &AppError) -> Response {
        let t = self.t();
        match e {
            AppError::NotFound(_) => self.page(
                StatusCode::NOT_FOUND,
                pages::message(self, t.not_found_title, t.not_found),
            ),
            AppError::Forbidden(_) => self.page(
                StatusCode::FORBIDDEN,
                pages::message(self, t.forbidden_title, t.forbidden),
            ),
            e => {
                let (_, said) = e.answer();
                let status = status_of(e);
                self.page(status, pages::message(self, t.error_title, &said))
            }
        }
    }

    /// The signed-in principal, or the way to the sign-in page.
    fn signed_in(&self) -> Result<&Principal, Box<Response>> {
        self.who.as_ref().ok_or_else(|| {
            Box::new(if self.dev_sign_in {
                self.redirect("/sign-in")
            } else {
                let t = self.t();
                self.page(
                    StatusCode::UNAUTHORIZED,
                    pages::message(self, t.forbidden_title, t.forbidden),
                )
            })
        })
    }
}

/// The status the API answers a use case's error with.
fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::InvalidAmount { .. } => StatusCode::BAD_REQUEST,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Conflict { .. } | AppError::Repo(crate::repo::RepoError::Conflict { .. }) => {
            StatusCode::CONFLICT
        }
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Repo(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

// ------------------------------------------------------------------- forms

/// A form body's fields, in order (a name may repeat: check boxes).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Compares without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The form of a POST, once its anti-forgery field matches the cookie the
/// browser sent (a new cookie is no proof: it was not in the browser).
fn checked_form(ctx: &Ctx, body: &Bytes) -> Result<Form, Box<Response>> {
    let t = ctx.t();
    if body.len() > MAX_FORM_BYTES {
        return Err(Box::new(ctx.page(
            StatusCode::PAYLOAD_TOO_LARGE,
            pages::message(ctx, t.error_title, t.error_generic),
        )));
    }
    let form = Form::parse(body);
    check_csrf(ctx, &form)?;
    Ok(form)
}

/// A customer's or staff member's form: [`checked_form`] (size and
/// anti-forgery first, so a forged post learns nothing of the session),
/// then who is signed in.
fn signed_form<'c>(ctx: &'c Ctx, body: &Bytes) -> Result<(Form, &'c Principal), Box<Response>> {
    let form = checked_form(ctx, body)?;
    Ok((form, ctx.signed_in()?))
}

/// Whether a form's anti-forgery field matches the cookie the browser sent
/// (a new cookie is no proof: it was not in the browser).
fn check_csrf(ctx: &Ctx, form: &Form) -> Result<(), Box<Response>> {
    if ctx.new_csrf || !same_secret(form.get(CSRF_FIELD), &ctx.csrf) {
        let t = ctx.t();
        return Err(Box::new(ctx.page(
            StatusCode::FORBIDDEN,
            pages::message(ctx, t.forbidden_title, t.csrf_failed),
        )));
    }
    Ok(())
}

/// A photo sent with the claim form.
struct Photo {
    content_type: String,
    bytes: Bytes,
}

/// The claim form's fields and photos: `multipart/form-data` (the form
/// with its file input), or a plain form. Checked for its anti-forgery
/// value before any photo goes anywhere.
async fn claim_form(
    ctx: &Ctx,
    req: axum::extract::Request,
) -> Result<(Form, Vec<Photo>), Box<Response>> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = Bytes::from_request(req, &())
            .await
            .map_err(|e| Box::new(e.into_response()))?;
        return checked_form(ctx, &body).map(|f| (f, Vec::new()));
    }
    let t = ctx.t();
    let refused = |status: StatusCode| {
        Box::new(ctx.page(status, pages::message(ctx, t.error_title, t.error_generic)))
    };
    let mut parts = Multipart::from_request(req, &())
        .await
        .map_err(|e| refused(e.status()))?;
    let (mut fields, mut photos) = (Vec::new(), Vec::new());
    while let Some(field) = parts.next_field().await.map_err(|e| refused(e.status()))? {
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_some() {
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|e| refused(e.status()))?;
            // No file chosen: an empty part.
            if name == "photo" && !bytes.is_empty() {
                photos.push(Photo {
                    content_type,
                    bytes,
                });
            }
        } else {
            let value = field.text().await.map_err(|e| refused(e.status()))?;
            fields.push((name, value));
        }
    }
    let form = Form(fields);
    check_csrf(ctx, &form)?;
    Ok((form, photos))
}

// ----------------------------------------------------------------- handlers

async fn home(State(st): State<WebState>, ctx: Ctx) -> Response {
    let p = match ctx.signed_in() {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match p {
        Principal::Customer { .. } => match app::list_claims(&st.services, p, Some(50), None).await
        {
            Ok(list) => ctx.ok(pages::home(&ctx, &list.claims)),
            Err(e) => ctx.error(&e),
        },
        _ => ctx.ok(pages::shop_home(&ctx, p)),
    }
}

async fn sign_in_page(ctx: Ctx) -> Response {
    if !ctx.dev_sign_in {
        let t = ctx.t();
        return ctx.page(
            StatusCode::NOT_FOUND,
            pages::message(&ctx, t.not_found_title, t.sign_in_unavailable),
        );
    }
    ctx.ok(pages::sign_in(&ctx, None))
}

async fn sign_in(State(st): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let form = match checked_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (true, AuthMode::Hs256(keys)) = (ctx.dev_sign_in, &st.auth) else {
        let t = ctx.t();
        return ctx.page(
            StatusCode::NOT_FOUND,
            pages::message(&ctx, t.not_found_title, t.sign_in_unavailable),
        );
    };
    let t = ctx.t();
    let valid = |id: &str| crate::domain::order::check_id("id", id).is_ok();
    let id = form.get("id").trim();
    let shop = form.get("shop_id").trim();
    let token = match form.get("role") {
        "customer" if valid(id) => keys.mint("customer", id, None, &[], SESSION_SECONDS),
        "storefront" if valid(shop) => keys.mint(
            "storefront",
            &format!("storefront-{shop}"),
            Some(shop),
            &[],
            SESSION_SECONDS,
        ),
        "staff" if valid(id) && valid(shop) => {
            let mut roles: Vec<StaffRole> = form
                .all("staff_roles")
                .into_iter()
                .filter_map(|r| match r {
                    "reviewer" => Some(StaffRole::Reviewer),
                    "admin" => Some(StaffRole::Admin),
                    "finance" => Some(StaffRole::Finance),
                    _ => None,
                })
                .collect();
            if roles.is_empty() {
                roles.push(StaffRole::Reviewer);
            }
            keys.mint("staff", id, Some(shop), &roles, SESSION_SECONDS)
        }
        "storefront" | "staff" if !valid(shop) => {
            return ctx.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::sign_in(&ctx, Some(t.sign_in_missing_shop)),
            )
        }
        _ => {
            return ctx.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::sign_in(&ctx, Some(t.sign_in_missing_id)),
            )
        }
    };
    let mut r = ctx.redirect("/");
    set_cookie(
        r.headers_mut(),
        format!(
            "{SESSION_COOKIE}={token}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict"
        ),
    );
    r
}

async fn sign_out(ctx: Ctx, body: Bytes) -> Response {
    if let Err(r) = checked_form(&ctx, &body) {
        return *r;
    }
    let mut r = ctx.redirect(if ctx.dev_sign_in { "/sign-in" } else { "/" });
    set_cookie(
        r.headers_mut(),
        format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    r
}

/// The "open an order" form's answer: to the order's page.
async fn open_order(ctx: Ctx, uri: axum::http::Uri) -> Response {
    if let Err(r) = ctx.signed_in() {
        return *r;
    }
    let q = Form::parse(uri.query().unwrap_or("").as_bytes());
    let enc = |s: &str| form_urlencoded::byte_serialize(s.trim().as_bytes()).collect::<String>();
    ctx.redirect(&format!(
        "/orders/{}/{}",
        enc(q.get("shop_id")),
        enc(q.get("order_id"))
    ))
}

async fn order_page(
    State(st): State<WebState>,
    ctx: Ctx,
    Path((shop_id, order_id)): Path<(String, String)>,
) -> Response {
    let p = match ctx.signed_in() {
        Ok(p) => p,
        Err(r) => return *r,
    };
    render_order(&st, &ctx, p, &shop_id, &order_id, &Form(Vec::new()), None).await
}

async fn back_to_order(ctx: Ctx, Path((shop_id, order_id)): Path<(String, String)>) -> Response {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    ctx.redirect(&format!("/orders/{}/{}", enc(&shop_id), enc(&order_id)))
}

/// The order page, with the form's values and what went wrong, if any.
async fn render_order(
    st: &WebState,
    ctx: &Ctx,
    p: &Principal,
    shop_id: &str,
    order_id: &str,
    form: &Form,
    problem: Option<String>,
) -> Response {
    let order = match app::customer_order(&st.services, p, shop_id, order_id).await {
        Ok(o) => o,
        Err(e) => return ctx.error(&e),
    };
    let policy = match app::policy::policy_for(&st.services, shop_id).await {
        Ok(p) => p,
        Err(e) => return ctx.error(&e),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.page(
        status,
        pages::order(ctx, &order, &policy, form, problem.as_deref()),
    )
}

/// The claim a form asks for, read as the API reads a body (the same
/// types, the same amount parsing).
fn claim_of(
    ctx: &Ctx,
    shop_id: &str,
    order_id: &str,
    form: &Form,
) -> Result<app::SubmitClaim, String> {
    let t = ctx.t();
    let quantity: u32 = match form.get("quantity").trim().parse() {
        Ok(q) if q > 0 => q,
        _ => return Err(t.bad_quantity.to_owned()),
    };
    let amount = form.get("amount").trim();
    let amount = if amount.is_empty() {
        None
    } else {
        Some(
            amount
                .parse::<crate::domain::money::Amount>()
                .map_err(|_| t.bad_amount.to_owned())?,
        )
    };
    let body = serde_json::json!({
        "shop_id": shop_id,
        "order_id": order_id,
        "type": "refund_only",
        "reason": form.get("reason"),
        "description": form.get("description"),
        "lines": [{"line_id": form.get("line_id"), "quantity": quantity}],
        "evidence": form.all("evidence"),
    });
    let mut claim: app::SubmitClaim =
        serde_json::from_value(body).map_err(|_| t.error_generic.to_owned())?;
    claim.claim_type = i18n::type_of_value(form.get("type")).ok_or(t.error_generic)?;
    claim.amount = amount;
    claim.opened = form.get("opened") == "yes";
    claim.voucher_codes = voucher_codes(form.get("voucher_codes"));
    Ok(claim)
}

/// The voucher codes typed in the form: one a line (commas and spaces
/// separate them too), blanks dropped.
fn voucher_codes(typed: &str) -> Vec<String> {
    typed
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn quote(
    State(st): State<WebState>,
    ctx: Ctx,
    Path((shop_id, order_id)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Response {
    let (form, photos) = match claim_form(&ctx, req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let p = match ctx.signed_in() {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let claim = match claim_of(&ctx, &shop_id, &order_id, &form) {
        Ok(c) => c,
        Err(why) => return render_order(&st, &ctx, p, &shop_id, &order_id, &form, Some(why)).await,
    };
    let quote = match app::quote_claim(&st.services, p, claim).await {
        Ok(q) => q,
        Err(AppError::NotFound(w)) => return ctx.error(&AppError::NotFound(w)),
        Err(e) => {
            let why = e.answer().1;
            return render_order(&st, &ctx, p, &shop_id, &order_id, &form, Some(why)).await;
        }
    };
    let order = match app::customer_order(&st.services, p, &shop_id, &order_id).await {
        Ok(o) => o,
        Err(e) => return ctx.error(&e),
    };
    let policy = match app::policy::policy_for(&st.services, &shop_id).await {
        Ok(p) => p,
        Err(e) => return ctx.error(&e),
    };
    // The photos, once the claim itself is quoted: stored as pre-claim
    // uploads (the API's own), named by the confirmation.
    let mut evidence = Vec::with_capacity(photos.len());
    for photo in &photos {
        match app::evidence::upload_from_form(
            &st.services,
            p,
            &shop_id,
            &photo.content_type,
            &photo.bytes,
        )
        .await
        {
            Ok(key) => evidence.push(key),
            Err(e) => {
                let why = e.answer().1;
                return render_order(&st, &ctx, p, &shop_id, &order_id, &form, Some(why)).await;
            }
        }
    }
    // The submission's Idempotency-Key: the confirmation sent twice (a
    // double click, a reload) files one claim.
    let key = format!("web-{}", uuid::Uuid::new_v4().simple());
    ctx.ok(pages::confirm(
        &ctx, &order, &policy, &form, &quote, &key, &evidence,
    ))
}

async fn submit(
    State(st): State<WebState>,
    ctx: Ctx,
    Path((shop_id, order_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (form, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let claim = match claim_of(&ctx, &shop_id, &order_id, &form) {
        Ok(c) => c,
        Err(why) => return render_order(&st, &ctx, p, &shop_id, &order_id, &form, Some(why)).await,
    };
    let key = Some(form.get("idempotency_key")).filter(|k| !k.is_empty());
    match app::submit_claim(&st.services, p, claim, key).await {
        Ok((view, _)) => ctx.redirect(&format!(
            "/claims/{}",
            form_urlencoded::byte_serialize(view.claim_id.as_bytes()).collect::<String>()
        )),
        Err(AppError::NotFound(w)) => ctx.error(&AppError::NotFound(w)),
        Err(e) => {
            let why = e.answer().1;
            render_order(&st, &ctx, p, &shop_id, &order_id, &form, Some(why)).await
        }
    }
}

async fn claim_page(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
) -> Response {
    render_claim(&st, &ctx, &claim_id, None).await
}

/// The claim's page, with what a form on it was refused for, if anything.
async fn render_claim(
    st: &WebState,
    ctx: &Ctx,
    claim_id: &str,
    problem: Option<String>,
) -> Response {
    let p = match ctx.signed_in() {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = match app::get_claim(&st.services, p, claim_id).await {
        Ok(v) => v,
        Err(e) => return ctx.error(&e),
    };
    let pickup = match claim_return::pickup_offer(st, p, &view).await {
        Ok(o) => o,
        Err(e) => return ctx.error(&e),
    };
    ctx.page(
        status,
        pages::claim(ctx, &view, problem.as_deref(), pickup.as_ref()),
    )
}

/// The largest photo shown (the policies' image limits are below it).
const MAX_PHOTO_BYTES: u64 = 32 * 1024 * 1024;

/// The claim's `n`th photo, for whoever may see the claim (`get_claim`
/// decides, as for the claim's page). Photos only: a stored object of
/// another type is not shown.
async fn claim_photo(
    State(st): State<WebState>,
    ctx: Ctx,
    Path((claim_id, n)): Path<(String, usize)>,
) -> Response {
    let p = match ctx.signed_in() {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let view = match app::get_claim(&st.services, p, &claim_id).await {
        Ok(v) => v,
        Err(e) => return ctx.error(&e),
    };
    let not_found = || ctx.error(&AppError::NotFound("photo"));
    let (Some(key), Some(storage)) = (view.evidence.get(n), st.services.evidence.as_ref()) else {
        return not_found();
    };
    let object = match storage.head(key).await {
        Ok(Some(o)) => o,
        Ok(None) => return not_found(),
        Err(e) => return ctx.error(&AppError::Unavailable(e.to_string())),
    };
    let content_type = match object.content_type.as_deref() {
        Some(t @ ("image/jpeg" | "image/png")) => t.to_owned(),
        _ => return not_found(),
    };
    match storage.get(key, MAX_PHOTO_BYTES).await {
        Ok(Some(bytes)) => {
            ctx.finish(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
        }
        Ok(None) => not_found(),
        Err(e) => ctx.error(&AppError::Unavailable(e.to_string())),
    }
}

async fn inbox_page(State(st): State<WebState>, ctx: Ctx) -> Response {
    let p = match ctx.signed_in() {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match app::notify::list_inbox(&st.services, p, Some(50), None).await {
        Ok(page) => ctx.ok(pages::inbox(&ctx, &page)),
        Err(e) => ctx.error(&e),
    }
}

async fn mark_read(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(message_id): Path<String>,
    body: Bytes,
) -> Response {
    let (_, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match app::notify::mark_read(&st.services, p, &message_id).await {
        Ok(_) => ctx.redirect("/inbox"),
        Err(e) => ctx.error(&e),
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        pages::CSS,
    )
        .into_response()
}

async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        pages::ICON,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name_and_secrets_compared_whole() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; lang=en"));
        h.append(header::COOKIE, HeaderValue::from_static("as_csrf=xyz"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, "as_csrf"), Some("xyz"));
        assert_eq!(cookie(&h, "as_session"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(well_formed_csrf(&new_csrf()));
        assert!(!well_formed_csrf("x\"; Path=/"));
    }

    #[test]
    fn the_claim_form_reads_every_type_and_its_extras_as_the_api_does() {
        let ctx = Ctx {
            lang: Lang::En,
            csrf: new_csrf(),
            new_csrf: false,
            set_lang: false,
            who: None,
            dev_sign_in: false,
        };
        let form = Form::parse(
            b"type=special_claim%3Avirtual_unused&reason=other&line_id=L1&quantity=2\
              &opened=yes&voucher_codes=A-1%0D%0AB-2%2C+",
        );
        let c = claim_of(&ctx, "shop-1", "o-1", &form).expect("a claim");
        assert_eq!(
            c.claim_type,
            crate::domain::claim::ClaimType::SpecialClaim {
                kind: crate::domain::claim::SpecialKind::VirtualUnused
            }
        );
        assert!(c.opened);
        assert_eq!(c.voucher_codes, ["A-1", "B-2"]);
        let form = Form::parse(b"type=exchange&reason=wrong_size&line_id=L1&quantity=1");
        let c = claim_of(&ctx, "shop-1", "o-1", &form).expect("a claim");
        assert_eq!(c.claim_type, crate::domain::claim::ClaimType::Exchange);
        assert!(!c.opened && c.voucher_codes.is_empty());
        let form = Form::parse(b"type=special_claim%3Aother&reason=other&line_id=L1&quantity=1");
        assert!(claim_of(&ctx, "shop-1", "o-1", &form).is_err());
    }
}
