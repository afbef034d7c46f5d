pub mod alert;
pub mod header;
pub mod require_session;
pub mod spinner;
pub mod term_renderer;
pub mod term_search;
pub mod terminal_view;
