pub fn generate_tenant() {}
