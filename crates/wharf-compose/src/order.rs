//! The `depends_on` graph: cycle detection, start order (dependencies
//! first, ties broken by name), and a selection's dependency closure.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ComposeError, Result};
use crate::model::Service;

/// Fails on the first cycle found (services and their dependencies walked
/// in name order), naming it as `a -> b -> a`.
pub(crate) fn check_cycles(services: &BTreeMap<String, Service>) -> Result<()> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    fn visit<'a>(
        name: &'a str,
        services: &'a BTreeMap<String, Service>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Result<()> {
        match marks.get(name).copied().unwrap_or(Mark::New) {
            Mark::Done => return Ok(()),
            Mark::OnStack => {
                let start = stack.iter().position(|s| *s == name).unwrap_or(0);
                let mut cycle: Vec<&str> = stack[start..].to_vec();
                cycle.push(name);
                return Err(ComposeError::DependencyCycle {
                    cycle: cycle.join(" -> "),
                });
            }
            Mark::New => {}
        }
        marks.insert(name, Mark::OnStack);
        stack.push(name);
        if let Some(service) = services.get(name) {
            for dep in service.depends_on.keys() {
                if services.contains_key(dep) {
                    visit(dep, services, marks, stack)?;
                }
            }
        }
        stack.pop();
        marks.insert(name, Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for name in services.keys() {
        visit(name, services, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}

/// All services, each after the services it depends on; among services
/// that are ready at the same time, by name. The graph must be acyclic
/// (checked at load).
pub(crate) fn start_order(services: &BTreeMap<String, Service>) -> Vec<&str> {
    let mut waiting_on: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, service) in services {
        let deps: Vec<&str> = service
            .depends_on
            .keys()
            .map(String::as_str)
            .filter(|d| services.contains_key(*d))
            .collect();
        waiting_on.insert(name, deps.len());
        for dep in deps {
            dependents.entry(dep).or_default().push(name);
        }
    }
    let mut ready: BTreeSet<&str> = waiting_on
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut order = Vec::with_capacity(services.len());
    while let Some(name) = ready.pop_first() {
        order.push(name);
        for dependent in dependents.get(name).map(Vec::as_slice).unwrap_or_default() {
            let n = waiting_on
                .get_mut(dependent)
                .expect("every service is counted");
            *n -= 1;
            if *n == 0 {
                ready.insert(dependent);
            }
        }
    }
    order
}

/// The named services and everything they depend on, transitively.
pub(crate) fn with_dependencies<'a>(
    services: &'a BTreeMap<String, Service>,
    names: &[&str],
) -> Result<BTreeSet<&'a str>> {
    let mut selected = BTreeSet::new();
    let mut todo: Vec<&'a str> = Vec::new();
    for name in names {
        let (key, _) =
            services
                .get_key_value(*name)
                .ok_or_else(|| ComposeError::NoSuchService {
                    name: name.to_string(),
                    known: services.keys().cloned().collect::<Vec<_>>().join(", "),
                })?;
        todo.push(key);
    }
    while let Some(name) = todo.pop() {
        if !selected.insert(name) {
            continue;
        }
        for dep in services[name].depends_on.keys() {
            if let Some((key, _)) = services.get_key_value(dep) {
                todo.push(key);
            }
        }
    }
    Ok(selected)
}
