use crate::model::*;
use crate::select::Select;
use crate::store::*;
use std::path::Path;
pub struct SqliteMeta;
impl SqliteMeta {
    pub fn open(_p: &Path, _d: &str) -> StoreResult<SqliteMeta> {
        todo!()
    }
}
impl MetaStore for SqliteMeta {
    fn describe(&self) -> String {
        todo!()
    }
    fn domain_exists(&self) -> StoreResult<bool> {
        todo!()
    }
    fn create_domain(&self) -> StoreResult<()> {
        todo!()
    }
    fn get(&self, _item: &str) -> StoreResult<Option<Attrs>> {
        todo!()
    }
    fn select(
        &self,
        _q: &Select,
        _each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        todo!()
    }
    fn apply(&self, _c: &[Change]) -> StoreResult<()> {
        todo!()
    }
}
