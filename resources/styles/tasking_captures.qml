<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis styleCategories="Symbology|Fields|AttributeTable" version="3.22.16-Białowieża">
  <renderer-v2 enableorderby="0" forceraster="0" symbollevels="0" attr="outcome" type="categorizedSymbol" referencescale="-1">
    <categories>
      <category value="success" render="true" label="Success" symbol="0"/>
      <category value="invalid" render="true" label="Invalid (assessed)" symbol="1"/>
      <category value="pending" render="true" label="Not yet assessed" symbol="2"/>
      <category value="failed" render="true" label="Failed" symbol="3"/>
      <category value="" render="true" label="Other" symbol="4"/>
    </categories>
    <symbols>
      <symbol alpha="1" force_rhr="0" type="fill" clip_to_extent="1" name="0">
        <data_defined_properties>
          <Option type="Map">
            <Option value="" type="QString" name="name"/>
            <Option name="properties"/>
            <Option value="collection" type="QString" name="type"/>
          </Option>
        </data_defined_properties>
        <layer locked="0" pass="0" class="SimpleFill" enabled="1">
          <Option type="Map">
            <Option value="3x:0,0,0,0,0,0" type="QString" name="border_width_map_unit_scale"/>
            <Option value="46,125,50,90" type="QString" name="color"/>
            <Option value="bevel" type="QString" name="joinstyle"/>
            <Option value="0,0" type="QString" name="offset"/>
            <Option value="3x:0,0,0,0,0,0" type="QString" name="offset_map_unit_scale"/>
            <Option value="MM" type="QString" name="offset_unit"/>
            <Option value="46,125,50,255" type="QString" name="outline_color"/>
            <Option value="solid" type="QString" name="outline_style"/>
            <Option value="0.5" type="QString" name="outline_width"/>
            <Option value="MM" type="QString" name="outline_width_unit"/>
            <Option value="solid" type="QString" name="style"/>
          </Option>
          <prop v="3x:0,0,0,0,0,0" k="border_width_map_unit_scale"/>
          <prop v="46,125,50,90" k="color"/>
          <prop v="bevel" k="joinstyle"/>
          <prop v="0,0" k="offset"/>
          <prop v="3x:0,0,0,0,0,0" k="offset_map_unit_scale"/>
          <prop v="MM" k="offset_unit"/>
          <prop v="46,125,50,255" k="outline_color"/>
          <prop v="solid" k="outline_style"/>
          <prop v="0.5" k="outline_width"/>
          <prop v="MM" k="outline_width_unit"/>
          <prop v="solid" k="style"/>
          <data_defined_properties>
            <Option type="Map">
              <Option value="" type="QString" name="name"/>
              <Option name="properties"/>
              <Option value="collection" type="QString" name="type"/>
            </Option>
          </data_defined_properties>
        </layer>
      </symbol>
      <symbol alpha="1" force_rhr="0" type="fill" clip_to_extent="1" name="1">
        <data_defined_properties>
          <Option type="Map">
            <Option value="" type="QString" name="name"/>
            <Option name="properties"/>
            <Option value="collection" type="QString" name="type"/>
          </Option>
        </data_defined_properties>
        <layer locked="0" pass="0" class="SimpleFill" enabled="1">
          <Option type="Map">
            <Option value="3x:0,0,0,0,0,0" type="QString" name="border_width_map_unit_scale"/>
            <Option value="251,140,0,90" type="QString" name="color"/>
            <Option value="bevel" type="QString" name="joinstyle"/>
            <Option value="0,0" type="QString" name="offset"/>
            <Option value="3x:0,0,0,0,0,0" type="QString" name="offset_map_unit_scale"/>
            <Option value="MM" type="QString" name="offset_unit"/>
            <Option value="251,140,0,255" type="QString" name="outline_color"/>
            <Option value="solid" type="QString" name="outline_style"/>
            <Option value="0.5" type="QString" name="outline_width"/>
            <Option value="MM" type="QString" name="outline_width_unit"/>
            <Option value="solid" type="QString" name="style"/>
          </Option>
          <prop v="3x:0,0,0,0,0,0" k="border_width_map_unit_scale"/>
          <prop v="251,140,0,90" k="color"/>
          <prop v="bevel" k="joinstyle"/>
          <prop v="0,0" k="offset"/>
          <prop v="3x:0,0,0,0,0,0" k="offset_map_unit_scale"/>
          <prop v="MM" k="offset_unit"/>
          <prop v="251,140,0,255" k="outline_color"/>
          <prop v="solid" k="outline_style"/>
          <prop v="0.5" k="outline_width"/>
          <prop v="MM" k="outline_width_unit"/>
          <prop v="solid" k="style"/>
          <data_defined_properties>
            <Option type="Map">
              <Option value="" type="QString" name="name"/>
              <Option name="properties"/>
              <Option value="collection" type="QString" name="type"/>
            </Option>
          </data_defined_properties>
        </layer>
      </symbol>
      <symbol alpha="1" force_rhr="0" type="fill" clip_to_extent="1" name="2">
        <data_defined_properties>
          <Option type="Map">
            <Option value="" type="QString" name="name"/>
            <Option name="properties"/>
            <Option value="collection" type="QString" name="type"/>
          </Option>
        </data_defined_properties>
        <layer locked="0" pass="0" class="SimpleFill" enabled="1">
          <Option type="Map">
            <Option value="3x:0,0,0,0,0,0" type="QString" name="border_width_map_unit_scale"/>
            <Option value="66,165,245,90" type="QString" name="color"/>
            <Option value="bevel" type="QString" name="joinstyle"/>
            <Option value="0,0" type="QString" name="offset"/>
            <Option value="3x:0,0,0,0,0,0" type="QString" name="offset_map_unit_scale"/>
            <Option value="MM" type="QString" name="offset_unit"/>
            <Option value="66,165,245,255" type="QString" name="outline_color"/>
            <Option value="dash" type="QString" name="outline_style"/>
            <Option value="0.5" type="QString" name="outline_width"/>
            <Option value="MM" type="QString" name="outline_width_unit"/>
            <Option value="solid" type="QString" name="style"/>
          </Option>
          <prop v="3x:0,0,0,0,0,0" k="border_width_map_unit_scale"/>
          <prop v="66,165,245,90" k="color"/>
          <prop v="bevel" k="joinstyle"/>
          <prop v="0,0" k="offset"/>
          <prop v="3x:0,0,0,0,0,0" k="offset_map_unit_scale"/>
          <prop v="MM" k="offset_unit"/>
          <prop v="66,165,245,255" k="outline_color"/>
          <prop v="dash" k="outline_style"/>
          <prop v="0.5" k="outline_width"/>
          <prop v="MM" k="outline_width_unit"/>
          <prop v="solid" k="style"/>
          <data_defined_properties>
            <Option type="Map">
              <Option value="" type="QString" name="name"/>
              <Option name="properties"/>
              <Option value="collection" type="QString" name="type"/>
            </Option>
          </data_defined_properties>
        </layer>
      </symbol>
      <symbol alpha="1" force_rhr="0" type="fill" clip_to_extent="1" name="3">
        <data_defined_properties>
          <Option type="Map">
            <Option value="" type="QString" name="name"/>
            <Option name="properties"/>
            <Option value="collection" type="QString" name="type"/>
          </Option>
        </data_defined_properties>
        <layer locked="0" pass="0" class="SimpleFill" enabled="1">
          <Option type="Map">
            <Option value="3x:0,0,0,0,0,0" type="QString" name="border_width_map_unit_scale"/>
            <Option value="198,40,40,90" type="QString" name="color"/>
            <Option value="bevel" type="QString" name="joinstyle"/>
            <Option value="0,0" type="QString" name="offset"/>
            <Option value="3x:0,0,0,0,0,0" type="QString" name="offset_map_unit_scale"/>
            <Option value="MM" type="QString" name="offset_unit"/>
            <Option value="198,40,40,255" type="QString" name="outline_color"/>
            <Option value="dot" type="QString" name="outline_style"/>
            <Option value="0.5" type="QString" name="outline_width"/>
            <Option value="MM" type="QString" name="outline_width_unit"/>
            <Option value="solid" type="QString" name="style"/>
          </Option>
          <prop v="3x:0,0,0,0,0,0" k="border_width_map_unit_scale"/>
          <prop v="198,40,40,90" k="color"/>
          <prop v="bevel" k="joinstyle"/>
          <prop v="0,0" k="offset"/>
          <prop v="3x:0,0,0,0,0,0" k="offset_map_unit_scale"/>
          <prop v="MM" k="offset_unit"/>
          <prop v="198,40,40,255" k="outline_color"/>
          <prop v="dot" k="outline_style"/>
          <prop v="0.5" k="outline_width"/>
          <prop v="MM" k="outline_width_unit"/>
          <prop v="solid" k="style"/>
          <data_defined_properties>
            <Option type="Map">
              <Option value="" type="QString" name="name"/>
              <Option name="properties"/>
              <Option value="collection" type="QString" name="type"/>
            </Option>
          </data_defined_properties>
        </layer>
      </symbol>
      <symbol alpha="1" force_rhr="0" type="fill" clip_to_extent="1" name="4">
        <data_defined_properties>
          <Option type="Map">
            <Option value="" type="QString" name="name"/>
            <Option name="properties"/>
            <Option value="collection" type="QString" name="type"/>
          </Option>
        </data_defined_properties>
        <layer locked="0" pass="0" class="SimpleFill" enabled="1">
          <Option type="Map">
            <Option value="3x:0,0,0,0,0,0" type="QString" name="border_width_map_unit_scale"/>
            <Option value="189,189,189,90" type="QString" name="color"/>
            <Option value="bevel" type="QString" name="joinstyle"/>
            <Option value="0,0" type="QString" name="offset"/>
            <Option value="3x:0,0,0,0,0,0" type="QString" name="offset_map_unit_scale"/>
            <Option value="MM" type="QString" name="offset_unit"/>
            <Option value="158,158,158,255" type="QString" name="outline_color"/>
            <Option value="dash" type="QString" name="outline_style"/>
            <Option value="0.5" type="QString" name="outline_width"/>
            <Option value="MM" type="QString" name="outline_width_unit"/>
            <Option value="solid" type="QString" name="style"/>
          </Option>
          <prop v="3x:0,0,0,0,0,0" k="border_width_map_unit_scale"/>
          <prop v="189,189,189,90" k="color"/>
          <prop v="bevel" k="joinstyle"/>
          <prop v="0,0" k="offset"/>
          <prop v="3x:0,0,0,0,0,0" k="offset_map_unit_scale"/>
          <prop v="MM" k="offset_unit"/>
          <prop v="158,158,158,255" k="outline_color"/>
          <prop v="dash" k="outline_style"/>
          <prop v="0.5" k="outline_width"/>
          <prop v="MM" k="outline_width_unit"/>
          <prop v="solid" k="style"/>
          <data_defined_properties>
            <Option type="Map">
              <Option value="" type="QString" name="name"/>
              <Option name="properties"/>
              <Option value="collection" type="QString" name="type"/>
            </Option>
          </data_defined_properties>
        </layer>
      </symbol>
    </symbols>
    <rotation/>
    <sizescale/>
  </renderer-v2>
  <blendMode>0</blendMode>
  <featureBlendMode>0</featureBlendMode>
  <fieldConfiguration>
    <field configurationFlags="None" name="fid"/>
    <field configurationFlags="None" name="connection_id"/>
    <field configurationFlags="None" name="capture_id"/>
    <field configurationFlags="None" name="order_id"/>
    <field configurationFlags="None" name="order_name"/>
    <field configurationFlags="None" name="status"/>
    <field configurationFlags="None" name="assessment"/>
    <field configurationFlags="None" name="outcome"/>
    <field configurationFlags="None" name="cloud_cover"/>
    <field configurationFlags="None" name="acquired_at"/>
    <field configurationFlags="None" name="published_at"/>
    <field configurationFlags="None" name="exclusivity_days"/>
    <field configurationFlags="None" name="exclusivity_end"/>
    <field configurationFlags="None" name="updated_at"/>
    <field configurationFlags="None" name="footprint_json"/>
    <field configurationFlags="None" name="raw"/>
  </fieldConfiguration>
  <aliases>
    <alias field="fid" index="0" name=""/>
    <alias field="connection_id" index="1" name="Connection"/>
    <alias field="capture_id" index="2" name="Capture id"/>
    <alias field="order_id" index="3" name="Order id"/>
    <alias field="order_name" index="4" name="Order"/>
    <alias field="status" index="5" name="Status"/>
    <alias field="assessment" index="6" name="Assessment"/>
    <alias field="outcome" index="7" name="Outcome"/>
    <alias field="cloud_cover" index="8" name="Cloud cover (0-1)"/>
    <alias field="acquired_at" index="9" name="Acquired"/>
    <alias field="published_at" index="10" name="Published"/>
    <alias field="exclusivity_days" index="11" name="Exclusivity days"/>
    <alias field="exclusivity_end" index="12" name="Exclusivity ends"/>
    <alias field="updated_at" index="13" name="Updated"/>
    <alias field="footprint_json" index="14" name=""/>
    <alias field="raw" index="15" name=""/>
  </aliases>
  <defaults>
    <default expression="" applyOnUpdate="0" field="fid"/>
    <default expression="" applyOnUpdate="0" field="connection_id"/>
    <default expression="" applyOnUpdate="0" field="capture_id"/>
    <default expression="" applyOnUpdate="0" field="order_id"/>
    <default expression="" applyOnUpdate="0" field="order_name"/>
    <default expression="" applyOnUpdate="0" field="status"/>
    <default expression="" applyOnUpdate="0" field="assessment"/>
    <default expression="" applyOnUpdate="0" field="outcome"/>
    <default expression="" applyOnUpdate="0" field="cloud_cover"/>
    <default expression="" applyOnUpdate="0" field="acquired_at"/>
    <default expression="" applyOnUpdate="0" field="published_at"/>
    <default expression="" applyOnUpdate="0" field="exclusivity_days"/>
    <default expression="" applyOnUpdate="0" field="exclusivity_end"/>
    <default expression="" applyOnUpdate="0" field="updated_at"/>
    <default expression="" applyOnUpdate="0" field="footprint_json"/>
    <default expression="" applyOnUpdate="0" field="raw"/>
  </defaults>
  <constraints>
    <constraint notnull_strength="1" exp_strength="0" constraints="3" unique_strength="1" field="fid"/>
    <constraint notnull_strength="1" exp_strength="0" constraints="1" unique_strength="0" field="connection_id"/>
    <constraint notnull_strength="1" exp_strength="0" constraints="1" unique_strength="0" field="capture_id"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="order_id"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="order_name"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="status"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="assessment"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="outcome"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="cloud_cover"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="acquired_at"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="published_at"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="exclusivity_days"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="exclusivity_end"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="updated_at"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="footprint_json"/>
    <constraint notnull_strength="0" exp_strength="0" constraints="0" unique_strength="0" field="raw"/>
  </constraints>
  <constraintExpressions>
    <constraint exp="" field="fid" desc=""/>
    <constraint exp="" field="connection_id" desc=""/>
    <constraint exp="" field="capture_id" desc=""/>
    <constraint exp="" field="order_id" desc=""/>
    <constraint exp="" field="order_name" desc=""/>
    <constraint exp="" field="status" desc=""/>
    <constraint exp="" field="assessment" desc=""/>
    <constraint exp="" field="outcome" desc=""/>
    <constraint exp="" field="cloud_cover" desc=""/>
    <constraint exp="" field="acquired_at" desc=""/>
    <constraint exp="" field="published_at" desc=""/>
    <constraint exp="" field="exclusivity_days" desc=""/>
    <constraint exp="" field="exclusivity_end" desc=""/>
    <constraint exp="" field="updated_at" desc=""/>
    <constraint exp="" field="footprint_json" desc=""/>
    <constraint exp="" field="raw" desc=""/>
  </constraintExpressions>
  <expressionfields/>
  <attributetableconfig sortExpression="" sortOrder="0" actionWidgetStyle="dropDown">
    <columns>
      <column type="field" hidden="0" width="-1" name="fid"/>
      <column type="field" hidden="0" width="-1" name="connection_id"/>
      <column type="field" hidden="0" width="-1" name="capture_id"/>
      <column type="field" hidden="0" width="-1" name="order_id"/>
      <column type="field" hidden="0" width="-1" name="order_name"/>
      <column type="field" hidden="0" width="-1" name="status"/>
      <column type="field" hidden="0" width="-1" name="assessment"/>
      <column type="field" hidden="0" width="-1" name="outcome"/>
      <column type="field" hidden="0" width="-1" name="cloud_cover"/>
      <column type="field" hidden="0" width="-1" name="acquired_at"/>
      <column type="field" hidden="0" width="-1" name="published_at"/>
      <column type="field" hidden="0" width="-1" name="exclusivity_days"/>
      <column type="field" hidden="0" width="-1" name="exclusivity_end"/>
      <column type="field" hidden="0" width="-1" name="updated_at"/>
      <column type="field" hidden="1" width="-1" name="footprint_json"/>
      <column type="field" hidden="1" width="-1" name="raw"/>
      <column type="actions" hidden="1" width="-1"/>
    </columns>
  </attributetableconfig>
  <conditionalstyles>
    <rowstyles/>
    <fieldstyles/>
  </conditionalstyles>
  <storedexpressions/>
  <layerGeometryType>2</layerGeometryType>
</qgis>
