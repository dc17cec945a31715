//! How one statement text runs on either database: the pool and the write transaction are
//! enums over the two drivers, values are collected as [`Arg`]s and bound to the driver's own
//! argument list only when the statement runs, and rows are read with the `FromRow` both
//! drivers derive. Everything above this module is written once and compiled once; only the
//! few `match`es here name a driver.

use std::borrow::Cow;
use std::marker::PhantomData;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, FromRow, PgConnection, Postgres, Sqlite, SqliteConnection};

use super::Dialect;
use crate::domain::ClientIp;

/// The connection pool of either database.
pub(in crate::store) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A transaction on either database.
pub(in crate::store) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// A bind value. Nulls keep their type: PostgreSQL must know what an untyped NULL is.
#[derive(Debug, Clone)]
pub(in crate::store) enum Arg {
    Int(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
    NullInt,
    NullText,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::NullInt, Arg::Int)
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}

impl From<&&str> for Arg {
    fn from(v: &&str) -> Self {
        Arg::Text((*v).to_string())
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Arg::NullText, |s| Arg::Text(s.to_string()))
    }
}

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        v.as_deref().into()
    }
}

/// A client's address is stored as its text (`unknown` when there is none).
impl From<ClientIp> for Arg {
    fn from(v: ClientIp) -> Self {
        Arg::Text(v.to_string())
    }
}

impl From<Option<ClientIp>> for Arg {
    fn from(v: Option<ClientIp>) -> Self {
        v.map_or(Arg::NullText, Arg::from)
    }
}

impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}

impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}

/// The driver's argument list of these values.
fn arguments<A: Arguments>(args: Vec<Arg>) -> Result<A, BoxDynError>
where
    i64: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<i64>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    bool: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<String>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Vec<u8>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
{
    let mut out = A::default();
    for a in args {
        match a {
            Arg::Int(v) => out.add(v)?,
            Arg::Text(v) => out.add(v)?,
            Arg::Bool(v) => out.add(v)?,
            Arg::Bytes(v) => out.add(v)?,
            Arg::NullInt => out.add(None::<i64>)?,
            Arg::NullText => out.add(None::<String>)?,
        }
    }
    Ok(out)
}

/// Where a statement runs: the pool (a connection of its own) or a transaction's connection.
pub(in crate::store) enum Target<'a> {
    SqlitePool(&'a sqlx::SqlitePool),
    PgPool(&'a sqlx::PgPool),
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// What a statement can run on.
pub(in crate::store) trait Executor<'a> {
    fn target(self) -> Target<'a>;
    fn dialect(&self) -> Dialect;
}

impl<'a> Executor<'a> for &'a Pool {
    fn target(self) -> Target<'a> {
        match self {
            Pool::Sqlite(p) => Target::SqlitePool(p),
            Pool::Postgres(p) => Target::PgPool(p),
        }
    }

    fn dialect(&self) -> Dialect {
        Pool::dialect(self)
    }
}

impl<'a> Executor<'a> for &'a mut Tx {
    fn target(self) -> Target<'a> {
        match self {
            Tx::Sqlite(t) => Target::Sqlite(t),
            Tx::Postgres(t) => Target::Postgres(t),
        }
    }

    fn dialect(&self) -> Dialect {
        Tx::dialect(self)
    }
}

impl<'a> Executor<'a> for &'a mut super::WriteTx {
    fn target(self) -> Target<'a> {
        (&mut self.tx).target()
    }

    fn dialect(&self) -> Dialect {
        self.tx.dialect()
    }
}

/// What a statement that returns no rows did.
pub(in crate::store) struct Done(u64);

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// A statement and its values, as `sqlx::query` with `bind`.
pub(in crate::store) struct Query {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// A statement whose rows are read as `T`.
pub(in crate::store) struct QueryAs<T> {
    q: Query,
    row: PhantomData<fn() -> T>,
}

/// A statement whose rows' first column is read as `T`.
pub(in crate::store) struct QueryScalar<T> {
    q: QueryAs<(T,)>,
}

pub(in crate::store) fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

pub(in crate::store) fn query_as<T>(sql: impl Into<Cow<'static, str>>) -> QueryAs<T> {
    QueryAs {
        q: query(sql),
        row: PhantomData,
    }
}

pub(in crate::store) fn query_scalar<T>(sql: impl Into<Cow<'static, str>>) -> QueryScalar<T> {
    QueryScalar { q: query_as(sql) }
}

/// A statement built at run time, with the values its [`super::Args`] collected.
pub(in crate::store) fn dynamic(sql: String, args: &super::Args) -> Query {
    Query {
        sql: sql.into(),
        args: args.values().to_vec(),
    }
}

/// As [`dynamic`], reading each row as a `T`.
pub(in crate::store) fn dynamic_as<T>(sql: String, args: &super::Args) -> QueryAs<T> {
    QueryAs {
        q: dynamic(sql, args),
        row: PhantomData,
    }
}

/// As [`dynamic`], reading the first column of each row as a `T`.
pub(in crate::store) fn dynamic_scalar<T>(sql: String, args: &super::Args) -> QueryScalar<T> {
    QueryScalar {
        q: dynamic_as(sql, args),
    }
}

impl Query {
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.args.push(v.into());
        self
    }

    pub async fn execute<'a>(self, on: impl Executor<'a>) -> Result<Done, sqlx::Error> {
        let sql = AssertSqlSafe(self.sql);
        let n = match on.target() {
            Target::SqlitePool(p) => sqlite(sql, self.args)?.execute(p).await?.rows_affected(),
            Target::Sqlite(c) => sqlite(sql, self.args)?.execute(c).await?.rows_affected(),
            Target::PgPool(p) => postgres(sql, self.args)?.execute(p).await?.rows_affected(),
            Target::Postgres(c) => postgres(sql, self.args)?.execute(c).await?.rows_affected(),
        };
        Ok(Done(n))
    }
}

fn sqlite(
    sql: AssertSqlSafe<Cow<'static, str>>,
    args: Vec<Arg>,
) -> Result<sqlx::query::Query<'static, Sqlite, SqliteArguments>, sqlx::Error> {
    Ok(sqlx::query_with(
        sql,
        arguments(args).map_err(sqlx::Error::Encode)?,
    ))
}

fn postgres(
    sql: AssertSqlSafe<Cow<'static, str>>,
    args: Vec<Arg>,
) -> Result<sqlx::query::Query<'static, Postgres, PgArguments>, sqlx::Error> {
    Ok(sqlx::query_with(
        sql,
        arguments(args).map_err(sqlx::Error::Encode)?,
    ))
}

impl<T> QueryAs<T>
where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.q = self.q.bind(v);
        self
    }

    pub async fn fetch_all<'a>(self, on: impl Executor<'a>) -> Result<Vec<T>, sqlx::Error> {
        let Query { sql, args } = self.q;
        let sql = AssertSqlSafe(sql);
        match on.target() {
            Target::SqlitePool(p) => sqlite_as(sql, args)?.fetch_all(p).await,
            Target::Sqlite(c) => sqlite_as(sql, args)?.fetch_all(c).await,
            Target::PgPool(p) => postgres_as(sql, args)?.fetch_all(p).await,
            Target::Postgres(c) => postgres_as(sql, args)?.fetch_all(c).await,
        }
    }

    pub async fn fetch_optional<'a>(self, on: impl Executor<'a>) -> Result<Option<T>, sqlx::Error> {
        let Query { sql, args } = self.q;
        let sql = AssertSqlSafe(sql);
        match on.target() {
            Target::SqlitePool(p) => sqlite_as(sql, args)?.fetch_optional(p).await,
            Target::Sqlite(c) => sqlite_as(sql, args)?.fetch_optional(c).await,
            Target::PgPool(p) => postgres_as(sql, args)?.fetch_optional(p).await,
            Target::Postgres(c) => postgres_as(sql, args)?.fetch_optional(c).await,
        }
    }

    pub async fn fetch_one<'a>(self, on: impl Executor<'a>) -> Result<T, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

fn sqlite_as<T>(
    sql: AssertSqlSafe<Cow<'static, str>>,
    args: Vec<Arg>,
) -> Result<sqlx::query::QueryAs<'static, Sqlite, T, SqliteArguments>, sqlx::Error>
where
    T: for<'r> FromRow<'r, SqliteRow>,
{
    Ok(sqlx::query_as_with(
        sql,
        arguments(args).map_err(sqlx::Error::Encode)?,
    ))
}

fn postgres_as<T>(
    sql: AssertSqlSafe<Cow<'static, str>>,
    args: Vec<Arg>,
) -> Result<sqlx::query::QueryAs<'static, Postgres, T, PgArguments>, sqlx::Error>
where
    T: for<'r> FromRow<'r, PgRow>,
{
    Ok(sqlx::query_as_with(
        sql,
        arguments(args).map_err(sqlx::Error::Encode)?,
    ))
}

impl<T> QueryScalar<T>
where
    (T,): for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.q = self.q.bind(v);
        self
    }

    pub async fn fetch_one<'a>(self, on: impl Executor<'a>) -> Result<T, sqlx::Error> {
        Ok(self.q.fetch_one(on).await?.0)
    }

    pub async fn fetch_optional<'a>(self, on: impl Executor<'a>) -> Result<Option<T>, sqlx::Error> {
        Ok(self.q.fetch_optional(on).await?.map(|(v,)| v))
    }
}
