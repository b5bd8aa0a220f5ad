//! Orders: placement, cancel, open/completed orders, status, executions and
//! commission reports.

use super::Contract;

/// `Order`: the order fields the fake reads or echoes back.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Order {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub order_id: Option<i32>,
    #[prost(int64, optional, tag = "3")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "4")]
    pub parent_id: Option<i32>,
    /// `BUY` or `SELL`.
    #[prost(string, optional, tag = "5")]
    pub action: Option<String>,
    /// Decimal as text.
    #[prost(string, optional, tag = "6")]
    pub total_quantity: Option<String>,
    /// `LMT`, `MKT`, ...
    #[prost(string, optional, tag = "8")]
    pub order_type: Option<String>,
    #[prost(double, optional, tag = "9")]
    pub lmt_price: Option<f64>,
    #[prost(double, optional, tag = "10")]
    pub aux_price: Option<f64>,
    #[prost(string, optional, tag = "11")]
    pub tif: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "28")]
    pub order_ref: Option<String>,
    #[prost(bool, optional, tag = "66")]
    pub transmit: Option<bool>,
    #[prost(string, optional, tag = "115")]
    pub filled_quantity: Option<String>,
}

/// `OrderState`: status plus margin/commission estimates.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrderState {
    #[prost(string, optional, tag = "1")]
    pub status: Option<String>,
    #[prost(double, optional, tag = "11")]
    pub commission_and_fees: Option<f64>,
    #[prost(string, optional, tag = "14")]
    pub commission_and_fees_currency: Option<String>,
    #[prost(string, optional, tag = "26")]
    pub reject_reason: Option<String>,
    #[prost(string, optional, tag = "29")]
    pub completed_time: Option<String>,
    #[prost(string, optional, tag = "30")]
    pub completed_status: Option<String>,
}

/// `PlaceOrderRequest` (placeOrder).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlaceOrderRequest {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub order: Option<Order>,
}

/// `CancelOrderRequest` (cancelOrder).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CancelOrderRequest {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
}

/// `OpenOrder`: an order with its contract and state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OpenOrder {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub order: Option<Order>,
    #[prost(message, optional, tag = "4")]
    pub order_state: Option<OrderState>,
}

/// `CompletedOrder`: a filled, cancelled or rejected order (no live id).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompletedOrder {
    #[prost(message, optional, tag = "1")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "2")]
    pub order: Option<Order>,
    #[prost(message, optional, tag = "3")]
    pub order_state: Option<OrderState>,
}

/// `CompletedOrdersRequest` (reqCompletedOrders).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompletedOrdersRequest {
    #[prost(bool, optional, tag = "1")]
    pub api_only: Option<bool>,
}

/// `OrderStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrderStatus {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub status: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub filled: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub remaining: Option<String>,
    #[prost(double, optional, tag = "5")]
    pub avg_fill_price: Option<f64>,
    #[prost(int64, optional, tag = "6")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "7")]
    pub parent_id: Option<i32>,
    #[prost(double, optional, tag = "8")]
    pub last_fill_price: Option<f64>,
    #[prost(int32, optional, tag = "9")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "10")]
    pub why_held: Option<String>,
}

/// `ExecutionFilter` inside an executions request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionFilter {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub acct_code: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub symbol: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub sec_type: Option<String>,
}

/// `ExecutionRequest` (reqExecutions).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub execution_filter: Option<ExecutionFilter>,
}

/// `Execution`: one fill.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Execution {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub exec_id: Option<String>,
    /// `YYYYMMDD HH:MM:SS <zone>`.
    #[prost(string, optional, tag = "3")]
    pub time: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub acct_number: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub exchange: Option<String>,
    /// `BOT` or `SLD`.
    #[prost(string, optional, tag = "6")]
    pub side: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub shares: Option<String>,
    #[prost(double, optional, tag = "8")]
    pub price: Option<f64>,
    #[prost(int64, optional, tag = "9")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "10")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "12")]
    pub cum_qty: Option<String>,
    #[prost(double, optional, tag = "13")]
    pub avg_price: Option<f64>,
    #[prost(string, optional, tag = "14")]
    pub order_ref: Option<String>,
}

/// `ExecutionDetails`: an execution with its contract.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionDetails {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub execution: Option<Execution>,
}

/// `CommissionAndFeesReport`: the commission of one execution.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CommissionAndFeesReport {
    #[prost(string, optional, tag = "1")]
    pub exec_id: Option<String>,
    #[prost(double, optional, tag = "2")]
    pub commission_and_fees: Option<f64>,
    #[prost(string, optional, tag = "3")]
    pub currency: Option<String>,
    #[prost(double, optional, tag = "4")]
    pub realized_pnl: Option<f64>,
}
