//! Account summary and positions.

use super::Contract;

/// `AccountSummaryRequest` (reqAccountSummary).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountSummaryRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub group: Option<String>,
    /// Comma-separated tags (`NetLiquidation,TotalCashValue,...`).
    #[prost(string, optional, tag = "3")]
    pub tags: Option<String>,
}

/// `AccountSummary`: one tag's value for one account.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AccountSummary {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub tag: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub value: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub currency: Option<String>,
}

/// `Position`: one holding (quantity as decimal text, average cost per unit
/// including the multiplier).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Position {
    #[prost(string, optional, tag = "1")]
    pub account: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "3")]
    pub position: Option<String>,
    #[prost(double, optional, tag = "4")]
    pub avg_cost: Option<f64>,
}
