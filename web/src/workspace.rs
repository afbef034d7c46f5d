//! The open SSH sessions of this page, as tabs. A session lives as long as its tab: it
//! survives switching tabs and visiting other pages of the app, and ends when the tab
//! is closed (or the page is left).

use leptos::prelude::*;

#[derive(Clone)]
pub struct Tab {
    pub id: u32,
    pub node: String,
    pub login: String,
    /// What the tab strip shows; the person may rename it.
    pub title: RwSignal<String>,
}

#[derive(Clone, Copy)]
pub struct Workspace {
    pub tabs: RwSignal<Vec<Tab>>,
    pub active: RwSignal<Option<u32>>,
    next_id: StoredValue<u32>,
    /// The app's owner: a tab's signals must outlive the route that opened the tab.
    owner: StoredValue<Owner>,
}

impl Workspace {
    pub fn provide() -> Workspace {
        let owner = Owner::current().unwrap_or_default();
        let workspace = Workspace {
            tabs: RwSignal::new(Vec::new()),
            active: RwSignal::new(None),
            next_id: StoredValue::new(1),
            owner: StoredValue::new(owner),
        };
        provide_context(workspace);
        workspace
    }

    /// Opens a new session tab and makes it the active one.
    pub fn open(&self, node: String, login: String) -> u32 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        let title = self.owner.with_value(|owner| owner.with(|| RwSignal::new(format!("{login}@{node}"))));
        self.tabs.update(|tabs| tabs.push(Tab { id, node, login, title }));
        self.active.set(Some(id));
        id
    }

    /// Closes a tab (ending its session); the neighbour becomes active.
    pub fn close(&self, id: u32) {
        let mut next = None;
        self.tabs.update(|tabs| {
            if let Some(index) = tabs.iter().position(|t| t.id == id) {
                tabs.remove(index);
                next = tabs.get(index).or_else(|| tabs.last()).map(|t| t.id);
            }
        });
        if self.active.get_untracked() == Some(id) {
            self.active.set(next);
        }
    }
}

pub fn use_workspace() -> Workspace {
    expect_context::<Workspace>()
}
